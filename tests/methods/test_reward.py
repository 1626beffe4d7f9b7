"""Reward modelling: pairwise accuracy above chance, a growing margin, a sequence classifier in model/."""

from __future__ import annotations

import json
from pathlib import Path

from tests.methods.conftest import logged, start_end


def test_reward_learns_to_rank_chosen_above_rejected(reward_run: Path):
    first, last = start_end(logged(reward_run, "margin"))
    assert last > first + 0.2
    assert start_end(logged(reward_run, "accuracy"))[1] > 0.7  # pairwise accuracy, chance is 0.5
    assert start_end(logged(reward_run, "loss"))[1] < 0.65  # starts at ln 2 = 0.69


def test_reward_metrics_report_pairwise_accuracy(reward_run: Path):
    metrics = json.loads((reward_run / "metrics.json").read_text())
    assert metrics["method"] == "reward" and 0.0 <= metrics["eval_accuracy"] <= 1.0
    assert "eval_exact_match" not in metrics  # a reward model scores answers, it does not write them


def test_reward_model_loads_as_a_sequence_classifier(reward_run: Path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(reward_run / "model")
    tokenizer = AutoTokenizer.from_pretrained(reward_run / "model")
    assert model.config.num_labels == 1
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4"}], tokenize=False
    )
    with torch.no_grad():
        assert model(**tokenizer(text, return_tensors="pt")).logits.shape == (1, 1)
