"""Tracking settings: the trainer's report_to and run name, TensorBoard's directory, the Hub token kept out of the
trainer's arguments, tracking values checked at validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig

from align import tracking
from align.config.validate import validate
from align.errors import ConfigError
from tests.conftest import compose_cfg


@pytest.fixture
def outside_hydra(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Hydra job is running (another test may have left HydraConfig set)."""
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)


def test_hub_token_leaves_the_trainer_arguments_for_the_environment(monkeypatch: pytest.MonkeyPatch):
    from align.run.hub import token_to_environment

    monkeypatch.setenv("HF_TOKEN", "old")
    cfg = compose_cfg("method=dpo", "method.hub_token=hf_literal_987")
    assert tracking.trainer_settings(cfg) == {"hub_token": None, "report_to": "none"}
    assert os.environ["HF_TOKEN"] == "old"  # the settings have no side effects
    token_to_environment(cfg.method)
    assert os.environ["HF_TOKEN"] == "hf_literal_987"


def test_tensorboard_logs_into_the_run_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, outside_hydra):
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", "restored-after-the-test")
    cfg = compose_cfg("method=dpo", "tracking=tensorboard")
    assert tracking.trainer_settings(cfg) == {"report_to": ["tensorboard"], "run_name": "dpo"}
    assert os.environ["TENSORBOARD_LOGGING_DIR"] == "restored-after-the-test"
    tracking.start(cfg, tmp_path)
    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(tmp_path / "tensorboard")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("tracking.backends=[wandb,mlflow]", "Invalid value for tracking.backends: 'mlflow'"),
        ("tracking.backends=[wandb,wandb]", "each backend at most once"),
        ("tracking.project=team/project", "Invalid value for tracking.project"),
        ("tracking.tags=[" + "x" * 65 + "]", "tags of 1 to 64 characters"),
    ],
)
def test_bad_tracking_values_are_named(override: str, message: str):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        validate(compose_cfg("tracking=wandb", override))


def test_both_backends_at_once_compose():
    cfg = compose_cfg("tracking=wandb_tensorboard")
    validate(cfg)
    assert list(cfg.tracking.backends) == ["wandb", "tensorboard"] and cfg.tracking.project == "align"
