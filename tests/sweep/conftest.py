"""Sweeps for the sweep tests: a partial DPO/IPO beta scan as job directories, and readers of what
align.report writes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.tracking_helpers import make_job, write_multirun_yaml

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


def rows(sweep: Path) -> list[dict[str, str]]:
    """results.csv as dicts, in file order."""
    with open(sweep / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))
