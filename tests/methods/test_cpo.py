"""CPO and SimPO (TRL's experimental CPOTrainer): SimPO is a yaml over the cpo module and grows its margin."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import compose_valid_cfg as compose_cfg
from tests.methods.conftest import OVERFIT, logged, start_end, train


def test_simpo_is_cpo_with_the_simpo_loss():
    cfg = compose_cfg("method=simpo")
    assert cfg.method.trainer == "cpo" and cfg.method.loss_type == "simpo" and cfg.method.cpo_alpha == 0.0
    assert compose_cfg("method=cpo").method.loss_type == "sigmoid"


def test_simpo_grows_the_margin(tmp_path: Path):
    run_dir = tmp_path / "run"
    metrics = train(run_dir, "method=simpo", *OVERFIT)
    assert metrics["method"] == "simpo"
    first, last = start_end(logged(run_dir, "rewards/margins"))
    assert last > first + 0.5
    assert start_end(logged(run_dir, "rewards/accuracies"))[1] > 0.7
