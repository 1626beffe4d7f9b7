"""ORPO (TRL's experimental trainer): the joint SFT + odds-ratio loss falls, no reference model needed."""

from __future__ import annotations

from pathlib import Path

from tests.methods.conftest import OVERFIT, logged, start_end, train


def test_orpo_loss_falls(tmp_path: Path):
    run_dir = tmp_path / "run"
    metrics = train(run_dir, "method=orpo", *OVERFIT)
    assert metrics["method"] == "orpo" and "eval_log_odds_ratio" in metrics
    first, last = start_end(logged(run_dir, "loss"))
    assert last < 0.8 * first
    assert start_end(logged(run_dir, "nll_loss"))[1] < start_end(logged(run_dir, "nll_loss"))[0]
