"""Continued pretraining: causal-LM loss on raw text falls, sequences are packed, model/ is a causal LM."""

from __future__ import annotations

from pathlib import Path

from tests.methods.conftest import OVERFIT, logged, start_end, train


def test_cpt_packs_text_and_loss_falls(tmp_path: Path):
    from transformers import AutoModelForCausalLM

    run_dir = tmp_path / "run"
    metrics = train(run_dir, "method=cpt", *OVERFIT, "data.num_train=512")
    first, last = start_end(logged(run_dir, "loss"))
    assert last < 0.9 * first
    assert metrics["method"] == "cpt" and metrics["train_steps"] == 12
    # packed: a full step sees batch x max_length tokens (32 x 64); 32 unpacked rows hold about 400
    tokens = [0.0, *logged(run_dir, "num_tokens")]
    assert max(b - a for a, b in zip(tokens, tokens[1:], strict=False)) > 0.9 * 32 * 64
    assert AutoModelForCausalLM.from_pretrained(run_dir / "model").config.model_type == "llama"
