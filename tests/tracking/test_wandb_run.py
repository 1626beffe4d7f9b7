"""The W&B run: offline without credentials, one run per sweep job in one group with the nested config and final
metrics, continued by a rerun in the same directory, offline when the server does not answer, files in $WANDB_DIR."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from align.tracking import wandb_run
from tests.conftest import cli_env, run_align
from tests.tracking.conftest import TINY_RUN, files_containing, offline_runs


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    monkeypatch.setenv("NETRC", str(netrc))
    return netrc


def test_without_credentials_wandb_logs_offline(no_credentials: Path):
    assert wandb_run.wandb_mode() == "offline"


def test_credentials_from_the_environment_or_netrc_mean_online(monkeypatch: pytest.MonkeyPatch, no_credentials: Path):
    no_credentials.write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    assert wandb_run.wandb_mode() == "online"
    no_credentials.write_text("")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_run.wandb_mode() == "online"


@pytest.mark.parametrize(("value", "mode"), [("offline", "offline"), ("dryrun", "offline"), ("disabled", "disabled")])
def test_wandb_mode_wins(monkeypatch: pytest.MonkeyPatch, value: str, mode: str):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_MODE", value)
    assert wandb_run.wandb_mode() == mode


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
from align.config.store import register_configs
from align.paths import conf_dir

register_configs()
with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
    cfg = compose(config_name="config", overrides=["tracking=wandb"])
tracking.start(cfg, Path(sys.argv[1]))
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


@pytest.mark.slow
def test_wandb_dir_set_by_the_user_is_where_wandb_files_go(tmp_path: Path):
    run_dir, elsewhere = tmp_path / "run", tmp_path / "wandb-files"
    elsewhere.mkdir()
    done = run_align("method=dpo", *TINY_RUN, "tracking=wandb", f"hydra.run.dir={run_dir}", cwd=tmp_path,
                     env=cli_env(WANDB_MODE="offline", WANDB_DIR=str(elsewhere)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (run_dir / "wandb").exists() and len(offline_runs(elsewhere)) == 1
    assert json.loads((run_dir / "tracking.json").read_text())["wandb"]["dir"] == str(elsewhere / "wandb")
