"""Tracking: W&B runs grouped per sweep with the nested config and final metrics, TensorBoard files,
offline without credentials, and secrets that never reach a run directory or W&B."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from align import tracking
from align.tracking import secrets
from align.config import validate
from align.errors import ConfigError
from tests.conftest import cli_env, compose_cfg, run_align
from tests.tracking_helpers import SECRETS, TINY_RUN, files_containing, offline_runs


@pytest.fixture
def outside_hydra(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Hydra job is running (another test may have left HydraConfig set)."""
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)


# ------------------------------------------------------------------------------------------ secrets


def test_secret_values_are_those_of_token_and_key_variables():
    env = {
        "HF_TOKEN": "hf_abcdefgh12",
        "MY_SERVICE_TOKEN": "tok-12345678",
        "AWS_SECRET_ACCESS_KEY": "aws/xyz12345",
        "WANDB_API_KEY": "k" * 40,
        "SHORT_KEY": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HOME": "/root/home",
    }
    assert set(secrets.secret_values(env)) == {"hf_abcdefgh12", "tok-12345678", "aws/xyz12345", "k" * 40}


def test_scrub_redacts_values_keys_and_assignments(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefgh12")
    data = {
        "method": {"hub_token": "hf_literal_987", "eos_token": "<|im_end|>", "beta": 0.1, "pad_token": None},
        "tracking": {"api_key": "${oc.env:WANDB_API_KEY}"},
        "command": ["-m", "align", "method.hub_token=hf_cmd_555", "note=uses hf_abcdefgh12 inside"],
    }
    scrubbed = secrets.scrub(OmegaConf.create(data))
    assert scrubbed["method"] == {"hub_token": "<redacted>", "eos_token": "<|im_end|>", "beta": 0.1, "pad_token": None}
    assert scrubbed["tracking"]["api_key"] == "${oc.env:WANDB_API_KEY}"  # says where the secret is, not what
    assert scrubbed["command"] == ["-m", "align", "method.hub_token=<redacted>", "note=uses <redacted> inside"]


def test_multirun_yaml_is_rewritten_only_when_it_holds_a_secret(tmp_path: Path):
    hydra_cfg = SimpleNamespace(mode=RunMode.MULTIRUN, sweep=SimpleNamespace(dir=str(tmp_path)))
    path = tmp_path / "multirun.yaml"
    path.write_text("hydra:\n  overrides:\n    task:\n    - method.beta=0.1,0.5\n    - method.hub_token=hf_cmd_555\n")
    secrets.scrub_sweep_config(hydra_cfg)
    assert "hf_cmd_555" not in path.read_text() and "method.beta=0.1,0.5" in path.read_text()
    before = path.stat().st_mtime_ns
    secrets.scrub_sweep_config(hydra_cfg)
    assert path.stat().st_mtime_ns == before


def test_hub_token_leaves_the_trainer_arguments_for_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_TOKEN", "old")
    cfg = compose_cfg("method=dpo", "method.hub_token=hf_literal_987")
    assert tracking.trainer_settings(cfg, Path("unused")) == {"hub_token": None, "report_to": "none"}
    assert os.environ["HF_TOKEN"] == "hf_literal_987"


# --------------------------------------------------------------------------------------- W&B mode


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    monkeypatch.setenv("NETRC", str(netrc))
    return netrc


def test_without_credentials_wandb_logs_offline(no_credentials: Path):
    assert tracking.wandb_mode() == "offline"


def test_credentials_from_the_environment_or_netrc_mean_online(monkeypatch: pytest.MonkeyPatch, no_credentials: Path):
    no_credentials.write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    assert tracking.wandb_mode() == "online"
    no_credentials.write_text("")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert tracking.wandb_mode() == "online"


@pytest.mark.parametrize(("value", "mode"), [("offline", "offline"), ("dryrun", "offline"), ("disabled", "disabled")])
def test_wandb_mode_wins(monkeypatch: pytest.MonkeyPatch, value: str, mode: str):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_MODE", value)
    assert tracking.wandb_mode() == mode


# ---------------------------------------------------------------------------- settings and names


def test_tensorboard_logs_into_the_run_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, outside_hydra):
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", "restored-after-the-test")
    cfg = compose_cfg("method=dpo", "tracking=tensorboard")
    assert tracking.trainer_settings(cfg, tmp_path) == {"report_to": ["tensorboard"], "run_name": "dpo"}
    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(tmp_path / "tensorboard")


def test_group_is_the_sweep_directory_of_a_job(tmp_path: Path, outside_hydra):
    cfg = compose_cfg("tracking=wandb")
    job = tmp_path / "sweep" / "method.beta=0.1"
    job.mkdir(parents=True)
    (tmp_path / "sweep" / "multirun.yaml").write_text("hydra: {}\n")
    assert tracking.group(cfg, job) == str((tmp_path / "sweep").resolve())
    single = tmp_path / "single"
    assert tracking.group(cfg, single) == str(single.resolve())
    assert tracking.group(compose_cfg("tracking=wandb", "tracking.group=scan-1"), job) == "scan-1"


def test_run_name_is_the_method_or_tracking_run_name(outside_hydra):
    assert tracking.run_name(compose_cfg("method=dpo", "tracking=wandb")) == "dpo"
    assert tracking.run_name(compose_cfg("tracking=wandb", "tracking.run_name=mine")) == "mine"


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


# ---------------------------------------------------------------------------------- a real sweep


@pytest.mark.slow
def test_sweep_makes_one_offline_wandb_run_per_job_in_one_group(tracked_sweep):
    sweep_dir, done = tracked_sweep
    assert done.returncode == 0, done.stderr[-3000:]
    runs = offline_runs(sweep_dir)
    assert len(runs) == 2
    assert {run.group for run in runs} == {"S"}  # the sweep directory, relative to where align ran
    assert sorted(run.name for run in runs) == ["dpo-beta=0.1", "dpo-beta=0.5"]
    assert {run.job_type for run in runs} == {"dpo"} and {run.project for run in runs} == {"align"}
    assert sorted(run.config["method"]["beta"] for run in runs) == [0.1, 0.5]  # nested: method.beta
    assert {run.config["tracking"]["name"] for run in runs} == {"wandb_tensorboard"}
    for run in runs:
        job_dir = next(p for p in sweep_dir.iterdir() if f"method.beta={run.config['method']['beta']}" in p.name)
        metrics = json.loads((job_dir / "metrics.json").read_text())
        for key in ("eval_loss", "train_loss", "eval_rewards/accuracies", "eval_exact_match"):
            assert run.summary[key] == pytest.approx(metrics[key])
        assert json.loads((job_dir / "tracking.json").read_text())["wandb"]["id"] == run.id


@pytest.mark.slow
def test_sweep_writes_tensorboard_events_per_job(tracked_sweep):
    sweep_dir, _ = tracked_sweep
    jobs = [p for p in sweep_dir.iterdir() if (p / "metrics.json").is_file()]
    assert len(jobs) == 2
    for job in jobs:
        assert list((job / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_secrets_appear_nowhere_under_the_sweep(tracked_sweep):
    sweep_dir, done = tracked_sweep
    assert done.returncode == 0, done.stderr[-3000:]
    assert files_containing(sweep_dir, list(SECRETS.values())) == {}
    assert not any(value in done.stdout + done.stderr for value in SECRETS.values())


@pytest.mark.slow
def test_a_rerun_in_the_same_directory_continues_the_wandb_run(tmp_path: Path):
    """Also: a token given on the command line is kept out of every file of the run."""
    run_dir = tmp_path / "run"
    args = ("method=dpo", *TINY_RUN, "tracking=wandb", "method.hub_token=hf_cmdline_4242", f"hydra.run.dir={run_dir}")
    env = cli_env(WANDB_MODE="offline")
    first = run_align(*args, cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_align(*args, cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    runs = offline_runs(run_dir)
    assert len(runs) == 2 and runs[0].id == runs[1].id
    assert runs[0].name == "dpo-max_steps=4-num_test=32-num_exact_match=4"
    assert files_containing(run_dir, ["hf_cmdline_4242"]) == {}


FALLBACK = """
import sys
from pathlib import Path
from hydra import compose, initialize_config_dir
from align import tracking
from align.config import register_configs
from align.paths import conf_dir

register_configs()
with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
    cfg = compose(config_name="config", overrides=["tracking=wandb"])
tracking.start_wandb(cfg, Path(sys.argv[1]))
tracking.finish(cfg, Path(sys.argv[1]), {"eval_loss": 0.5})
"""


@pytest.mark.slow
def test_unreachable_wandb_server_falls_back_to_offline(tmp_path: Path):
    env = cli_env(WANDB_API_KEY="a" * 40, WANDB_BASE_URL="http://127.0.0.1:9", WANDB_INIT_TIMEOUT="5")
    env.pop("WANDB_MODE", None)
    done = subprocess.run(
        [sys.executable, "-c", FALLBACK, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "logging offline instead" in done.stderr
    assert json.loads((tmp_path / "tracking.json").read_text())["wandb"]["mode"] == "offline"
    [run] = offline_runs(tmp_path)
    assert run.summary["eval_loss"] == 0.5
