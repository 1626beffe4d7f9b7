"""The tiny model's tuning reaches the tiny model and models trained from it, never a real model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from align.config.trl_fields import trl_fields
from align.config.tuning import tuning_overrides
from align.config.validate import validate
from align.errors import ConfigError
from align.model.tiny import LINEAGE_FILE
from tests.conftest import cli_env, compose_cfg

DPO_DEFAULTS = trl_fields("trl.DPOConfig")


def tiny_descendant(tmp_path: Path) -> Path:
    """A model directory saved by a run that started from the tiny model."""
    model = tmp_path / "sft" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / LINEAGE_FILE).write_text(json.dumps({"lineage": "tiny"}))
    return model


def test_the_tiny_default_is_tuned_and_says_which_file():
    cfg = compose_cfg("method=dpo")
    assert cfg.tuning == "tune/tiny/dpo.yaml"
    assert cfg.method.learning_rate == 5.0e-4 and cfg.method.max_length == 64


def test_a_hub_model_gets_the_methods_own_values():
    cfg = compose_cfg("method=dpo", "model.name_or_path=HuggingFaceH4/zephyr-7b-beta")
    assert cfg.tuning is None
    assert cfg.method.learning_rate == 5.0e-7  # conf/method/dpo.yaml
    assert cfg.method.max_length == DPO_DEFAULTS["max_length"]["default"] != 64
    assert cfg.method.max_steps == DPO_DEFAULTS["max_steps"]["default"]


def test_a_model_trained_from_the_tiny_one_keeps_the_tuning(tmp_path: Path):
    cfg = compose_cfg("method=dpo", f"model.name_or_path={tiny_descendant(tmp_path)}")
    assert cfg.tuning == "tune/tiny/dpo.yaml" and cfg.method.max_length == 64


def test_another_local_model_is_not_tuned(tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text("{}")
    assert tuning_overrides([f"model.name_or_path={other}"]) == ["~tune"]


def test_a_sweep_of_real_models_is_not_tuned():
    assert tuning_overrides(["model.name_or_path=a/b,c/d"]) == ["~tune"]


def test_a_tuning_chosen_by_the_user_is_kept():
    assert tuning_overrides(["model.name_or_path=a/b", "tune=tiny/dpo"]) == []


def test_the_command_line_beats_tuned_values():
    assert compose_cfg("method=dpo", "method.learning_rate=0.123").method.learning_rate == 0.123


def test_a_tuning_that_reaches_a_real_model_otherwise_is_refused(tmp_path: Path):
    """A sweep mixing the tiny model with a real one keeps the tuning for both: the real job must not train."""
    cfg = compose_cfg("method=dpo")
    cfg.model.name_or_path = "HuggingFaceH4/zephyr-7b-beta"
    with pytest.raises(ConfigError, match="~tune"):
        validate(cfg, [])


def test_cfg_job_shows_the_methods_learning_rate_for_a_hub_model():
    """The issue's command, exactly: `--cfg job` prints no tiny values for Zephyr."""
    command = ["method=dpo", "model.name_or_path=HuggingFaceH4/zephyr-7b-beta", "--cfg", "job"]
    out = subprocess.run([sys.executable, "-m", "align", *command], capture_output=True, text=True, env=cli_env(),
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "learning_rate: 5.0e-07" in out.stdout and "max_length: 64" not in out.stdout
    assert "tuning: null" in out.stdout
