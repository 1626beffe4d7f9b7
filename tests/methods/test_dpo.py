"""DPO's losses: every TRL loss_type (and weighted combinations) is selectable by config alone; named
losses (ipo, rpo, mpo) are yaml files; a non-default loss trains and moves the margin."""

from __future__ import annotations

from pathlib import Path

import pytest

from align.config.trl_fields import trl_fields
from align.errors import ConfigError
from tests.conftest import compose_valid_cfg as compose_cfg
from tests.methods.conftest import OVERFIT, logged, start_end, train

DPO_LOSSES = trl_fields("trl.DPOConfig")["loss_type"]["choices"]


@pytest.mark.parametrize("loss", DPO_LOSSES)
def test_every_trl_loss_type_is_selectable(loss: str):
    cfg = compose_cfg("method=dpo", f"method.loss_type={loss}")
    assert list(cfg.method.loss_type) == [loss] and cfg.method.trainer == "dpo"


def test_losses_combine_with_weights():
    cfg = compose_cfg("method=dpo", "method.loss_type=[sigmoid,bco_pair,sft]", "method.loss_weights=[0.8,0.2,1.0]")
    assert list(cfg.method.loss_weights) == [0.8, 0.2, 1.0]
    with pytest.raises(ConfigError, match="method.loss_weights"):
        compose_cfg("method=dpo", "method.loss_type=[sigmoid,sft]", "method.loss_weights=[1.0]")


@pytest.mark.parametrize(
    ("method", "losses", "weights"),
    [
        ("ipo", ["ipo"], None),
        ("rpo", ["sigmoid", "sft"], [1.0, 1.0]),
        ("mpo", ["sigmoid", "bco_pair", "sft"], [0.8, 0.2, 1.0]),
    ],
)
def test_named_losses_are_dpo_configs(method: str, losses: list[str], weights: list[float] | None):
    cfg = compose_cfg(f"method={method}")
    assert cfg.method.name == method and cfg.method.trainer == "dpo"
    assert list(cfg.method.loss_type) == losses
    assert (list(cfg.method.loss_weights) if weights else None) == weights
    assert cfg.method.max_steps > 0  # tuned for the tiny default like dpo itself


def test_hinge_loss_from_config_alone_grows_the_margin(tmp_path: Path):
    run_dir = tmp_path / "run"
    metrics = train(run_dir, "method=dpo", "method.loss_type=hinge", *OVERFIT)
    assert metrics["method"] == "dpo"
    first, last = start_end(logged(run_dir, "loss"))
    assert last < first - 0.1  # hinge starts at 1
    assert start_end(logged(run_dir, "rewards/margins"))[1] > 0.1


# Settings TRL requires with some losses (it says so itself when they are missing, see below).
LOSS_NEEDS = {"exo_pair": ["method.label_smoothing=1e-3"]}


@pytest.mark.slow
@pytest.mark.parametrize("loss", DPO_LOSSES)
def test_every_trl_loss_type_trains(loss: str, tmp_path: Path):
    overrides = [f"method.loss_type={loss}", *LOSS_NEEDS.get(loss, []), *OVERFIT[:3], "method.max_steps=2"]
    train(tmp_path / "run", "method=dpo", *overrides)


def test_settings_trl_rejects_are_one_paragraph(tmp_path: Path):
    from tests.conftest import run_align

    out = run_align("method=dpo", "method.loss_type=exo_pair", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "align: error: TRL's DPOTrainer rejected this run's method settings: Label smoothing" in out.stderr
    assert not (tmp_path / "run").exists()  # stopped before training: nothing written, not even checkpoints/
