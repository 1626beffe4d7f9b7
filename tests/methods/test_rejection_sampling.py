"""Rejection sampling: best and worst of N samples per prompt land in samples.jsonl, which DPO trains on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.errors import ConfigError, DataError
from tests.conftest import compose_valid_cfg as compose_cfg
from tests.methods.conftest import train, write_jsonl

SAMPLE_KEYS = {"prompt", "chosen", "rejected", "score_chosen", "score_rejected", "scores"}


def sample(run_dir: Path, *overrides: str) -> tuple[dict, list[dict]]:
    from tests.conftest import run_align

    out = run_align("method=rejection_sampling", *overrides, f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines() if line]
    return json.loads((run_dir / "metrics.json").read_text()), rows


def test_reward_model_scores_samples_and_dpo_trains_on_them(reward_run: Path, tmp_path: Path):
    metrics, rows = sample(
        tmp_path / "rs", f"method.reward_model={reward_run / 'model'}", "method.num_prompts=32", "method.num_samples=4"
    )
    assert metrics["num_prompts"] == 32 and metrics["num_samples"] == 4 and metrics["num_pairs"] == len(rows) > 0
    assert metrics["scored_by"] == "reward_model" and "mean_strict_score" not in metrics
    assert metrics["mean_best_score"] > metrics["mean_score"] > metrics["mean_worst_score"]
    assert metrics["best_of_n_gain"] == pytest.approx(metrics["mean_best_score"] - metrics["mean_score"])
    for row in rows:
        assert set(row) == SAMPLE_KEYS and len(row["scores"]) == 4
        assert row["score_chosen"] == max(row["scores"]) > row["score_rejected"] == min(row["scores"])
        assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"

    dpo = train(
        tmp_path / "dpo", "method=dpo", "data=file", f"data.path={tmp_path / 'rs' / 'samples.jsonl'}",
        "data.test_split_size=0.25", "method.max_steps=4",
    )
    assert dpo["method"] == "dpo" and dpo["train_steps"] == 4 and "eval_rewards/margins" in dpo


def test_exact_match_scores_against_the_reference():
    from align.methods.rejection_sampling import _score

    # two prompts, three samples each; samples are compared with their own prompt's reference, and a chat answer
    # ("3 + 4 = 7.") scores by its last number while the strict match, reported beside it, says 0
    scores, strict = _score(None, False, ["p"] * 6, ["4", " 4", "5", "3 + 4 = 7.", "6", "7"], ["4", "7"])
    assert scores == [1, 1, 0, 1, 0, 1] and strict == [1, 1, 0, 0, 0, 1]


@pytest.mark.slow
def test_exact_match_reward_prefers_correct_answers(default_sft_run: Path, tmp_path: Path):
    """The verifiable reward of the arithmetic default, from a policy that has begun to learn addition."""
    metrics, rows = sample(tmp_path / "rs", f"model.name_or_path={default_sft_run / 'model'}", "method.num_prompts=128")
    assert rows and metrics["mean_worst_score"] < metrics["mean_score"] < metrics["mean_best_score"] <= 1
    assert metrics["scored_by"] == "exact_match_extracted" and 0 <= metrics["mean_strict_score"] <= 1
    for row in rows:
        a, b = row["prompt"][0]["content"].removeprefix("What is ").rstrip("?").split(" + ")
        assert row["chosen"][0]["content"] == str(int(a) + int(b)) != row["rejected"][0]["content"]
        assert (row["score_chosen"], row["score_rejected"]) == (1.0, 0.0)


def test_sampled_prompts_are_fresh_problems():
    from align.data import load
    from align.data.arithmetic import split_problems

    data = compose_cfg("method=rejection_sampling").data
    train_problems, test_problems = split_problems(data)
    prompts = {row["prompt"][0]["content"] for row in load(data, "prompt").splits["train"]}
    assert prompts and not prompts & {q for q, _ in train_problems + test_problems}


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("method.num_samples=1", "method.num_samples"),
        ("method.temperature=0", "method.temperature"),
        ("method.top_p=1.5", "method.top_p"),
        ("method.max_new_tokens=0", "method.max_new_tokens"),
        ("method.reward_model=/nonexistent/reward", "method.reward_model"),
    ],
)
def test_bad_sampling_values_name_the_key(override: str, key: str):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        compose_cfg("method=rejection_sampling", override)


def test_exact_match_needs_reference_answers(tmp_path: Path):
    """Said by the dry run's plan and by the run, before anything is loaded or written."""
    from align.methods import rejection_sampling
    from tests.conftest import prepared

    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "1 + 1 =", "chosen": " 2", "rejected": " 3"}])
    run = prepared("method=rejection_sampling", "data=file", f"data.path={pairs}")
    with pytest.raises(DataError, match="no `completion`.*method.reward_model"):
        rejection_sampling.plan_lines(run)
    with pytest.raises(DataError, match="no `completion`.*method.reward_model"):
        rejection_sampling.run(run, tmp_path / "run", hydra_cfg=None)
    assert not (tmp_path / "run").exists()


def test_dry_run_plans_the_sampling(tmp_path: Path):
    from tests.conftest import run_align

    out = run_align("method=rejection_sampling", "dry_run=true", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "completions:" in out.stdout and "exact match" in out.stdout
    assert not (tmp_path / "run").exists()


