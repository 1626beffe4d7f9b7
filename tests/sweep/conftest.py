"""Sweeps for the sweep tests: a partial DPO/IPO beta scan as job directories, a complete one whose jobs ran
evaluations (win rate, MT-Bench), and readers of what align.report writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCAN = ["method=dpo,ipo", "method.beta=0.1,0.5,0.9", "method.max_steps=4"]


def metrics(method: str, accuracy: float, loss: float) -> dict:
    return {"method": method, "eval_rewards/accuracies": accuracy, "eval_loss": loss, "train_loss": loss + 0.1}


@pytest.fixture
def partial_sweep(tmp_path: Path) -> Path:
    """dpo and ipo x beta 0.1, 0.5, 0.9: four done, one failed with an error, one failed silently."""
    sweep = tmp_path / "scan"
    write_multirun_yaml(sweep, SCAN)
    make_job(sweep, ["method=dpo", "method.beta=0.1", "method.max_steps=4"], metrics("dpo", 0.55, 0.69))
    make_job(sweep, ["method=dpo", "method.beta=0.5", "method.max_steps=4"], metrics("dpo", 0.61, 0.68))
    make_job(sweep, ["method=ipo", "method.beta=0.1", "method.max_steps=4"], metrics("ipo", 0.58, 0.30))
    make_job(sweep, ["method=ipo", "method.beta=0.5", "method.max_steps=4"], metrics("ipo", 0.52, 0.31))
    make_job(
        sweep,
        ["method=dpo", "method.beta=0.9", "method.max_steps=4"],
        stderr="Traceback ...\nalign: error: Invalid value for method.beta: 0.9. Expected a number.\n",
    )
    make_job(sweep, ["method=ipo", "method.beta=0.9", "method.max_steps=4"], stderr="", record_overrides=False)
    return sweep


# (method, beta) -> (win_rate, mt_bench_score, eval_rewards/accuracies): the best beta by win rate is not the
# best by reward accuracy, so a report ranked by the wrong metric names the wrong betas.
EVALUATED = {
    ("dpo", "0.1"): (0.62, 6.1, 0.50),
    ("dpo", "0.5"): (0.48, 6.5, 0.70),
    ("ipo", "0.1"): (0.41, 5.0, 0.66),
    ("ipo", "0.5"): (0.55, 5.9, 0.52),
}


@pytest.fixture
def evaluated_sweep(tmp_path: Path) -> Path:
    """dpo and ipo x beta 0.1, 0.5, all done, each job's metrics.json with its evaluations' metrics."""
    sweep = tmp_path / "S"
    write_multirun_yaml(sweep, ["method=dpo,ipo", "method.beta=0.1,0.5", "eval=[mt_bench,win_rate]"])
    for (method, beta), (win_rate, score, accuracy) in EVALUATED.items():
        values = {**metrics(method, accuracy, 0.6), "win_rate": win_rate, "win_rate_ties": 0.05}
        values.update(mt_bench_score=score, mt_bench_turn1=score + 0.2, mt_bench_turn2=score - 0.2)
        make_job(sweep, [f"method={method}", f"method.beta={beta}", "eval=[mt_bench,win_rate]"], values)
    return sweep


def rows(sweep: Path) -> list[dict[str, str]]:
    """results.csv as dicts, in file order."""
    with open(sweep / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def write_multirun_yaml(
    sweep_dir: Path,
    task: list[str],
    sweeper: str = "BasicSweeper",
    params: dict[str, str] | None = None,
    override_dirname: dict[str, Any] | None = None,
) -> None:
    """The part of Hydra's multirun.yaml that align.report reads (`override_dirname`: hydra.job.config's)."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    target = f"hydra._internal.core_plugins.basic_sweeper.{sweeper}"
    config = {"hydra": {"sweeper": {"_target_": target, "params": params}, "overrides": {"task": task}}}
    if override_dirname is not None:
        config["hydra"]["job"] = {"config": {"override_dirname": override_dirname}}
    (sweep_dir / "multirun.yaml").write_text(yaml.safe_dump(config))


def make_job(
    sweep_dir: Path,
    overrides: list[str],
    metrics: dict[str, Any] | None = None,
    stderr: str | None = None,
    record_overrides: bool = True,
    dirname: str | None = None,
) -> Path:
    """A job directory named like Hydra's override_dirname (or `dirname`), with what a finished or failed
    job leaves."""
    job_dir = sweep_dir / (dirname or ",".join(sorted(overrides)))
    job_dir.mkdir(parents=True)
    if record_overrides:
        (job_dir / ".hydra").mkdir()
        (job_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        (job_dir / "metrics.json").write_text(json.dumps(metrics))
    if stderr is not None:
        (job_dir / "stderr.log").write_text(stderr)
    return job_dir
