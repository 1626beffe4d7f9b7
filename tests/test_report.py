"""`python -m align.report SWEEP_DIR`: results.csv, report.md and PNG plots, also for partial sweeps,
and one-paragraph errors for a missing directory, no jobs or an unknown metric."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from align import report
from tests.conftest import REPO, cli_env
from tests.tracking_helpers import make_job, write_multirun_yaml

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def metrics(method: str, accuracy: float, loss: float) -> dict:
    return {"method": method, "eval_rewards/accuracies": accuracy, "eval_loss": loss, "train_loss": loss + 0.1}


@pytest.fixture
def partial_sweep(tmp_path: Path) -> Path:
    """dpo and ipo x beta 0.1, 0.5, 0.9: four done, one failed with an error, one failed silently, one missing."""
    sweep = tmp_path / "scan"
    write_multirun_yaml(sweep, ["method=dpo,ipo", "method.beta=0.1,0.5,0.9", "method.max_steps=4"])
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
    with open(sweep / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_partial_sweep_report(partial_sweep: Path, capsys: pytest.CaptureFixture):
    assert report.main([str(partial_sweep)]) == 0
    table = rows(partial_sweep)
    assert [(r["method"], r["beta"], r["status"]) for r in table] == [
        ("dpo", "0.5", "done"),
        ("ipo", "0.1", "done"),
        ("dpo", "0.1", "done"),
        ("ipo", "0.5", "done"),
        ("dpo", "0.9", "failed"),
        ("ipo", "0.9", "failed"),
    ]
    assert "max_steps" not in table[0]  # the same for every job: not a swept key
    assert {"eval_rewards/accuracies", "eval_loss", "train_loss"} <= set(table[0])
    markdown = (partial_sweep / "report.md").read_text()
    assert "**eval_rewards/accuracies** (higher is better)" in markdown
    assert "4 job(s) done, 2 failed, 0 missing" in markdown
    ranked = [line for line in markdown.splitlines() if line.startswith("| 1") or line.startswith("| 2")]
    assert ranked[0].startswith("| 1 ★ | dpo | 0.5") and ranked[1].startswith("| 2 ★ | ipo | 0.1")
    assert "Invalid value for method.beta: 0.9" in markdown  # the failed job's error line
    plot = partial_sweep / "eval_rewards_accuracies_vs_beta.png"
    assert "](eval_rewards_accuracies_vs_beta.png)" in markdown
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    assert not [p for p in partial_sweep.iterdir() if p.name.startswith(".")]  # no temp files left
    assert "wrote" in capsys.readouterr().out


def test_jobs_that_never_started_are_listed_as_missing(partial_sweep: Path):
    import shutil

    shutil.rmtree(next(partial_sweep.glob("method.beta=0.5,method.max_steps=4,method=ipo")))
    assert report.main([str(partial_sweep)]) == 0
    missing = [r for r in rows(partial_sweep) if r["status"] == "missing"]
    assert [(r["method"], r["beta"]) for r in missing] == [("ipo", "0.5")]
    assert "- missing: `method=ipo method.beta=0.5 method.max_steps=4`" in (partial_sweep / "report.md").read_text()


def test_loss_metric_ranks_lowest_first(partial_sweep: Path):
    assert report.main([str(partial_sweep), "--metric", "eval_loss"]) == 0
    assert [r["eval_loss"] for r in rows(partial_sweep) if r["status"] == "done"] == ["0.3", "0.31", "0.68", "0.69"]
    assert "(lower is better)" in (partial_sweep / "report.md").read_text()
    assert (partial_sweep / "eval_loss_vs_beta.png").read_bytes().startswith(PNG_SIGNATURE)


def test_default_metric_is_eval_loss_without_reward_accuracy(tmp_path: Path):
    sweep = tmp_path / "sft"
    make_job(sweep, ["method.learning_rate=1e-4"], {"method": "sft", "eval_loss": 1.2, "train_loss": 1.5})
    make_job(sweep, ["method.learning_rate=1e-3"], {"method": "sft", "eval_loss": 0.9, "train_loss": 1.1})
    sweep_data = report.load_sweep(sweep)
    assert report.choose_metric(sweep_data, None) == "eval_loss"
    assert report.main([str(sweep)]) == 0
    assert [r["learning_rate"] for r in rows(sweep)] == ["1e-3", "1e-4"]
    assert (sweep / "eval_loss_vs_learning_rate.png").is_file()


def test_short_names_keep_the_full_key_where_two_clash():
    assert report.short_names(["method.beta", "data.seed", "method.seed"]) == {
        "method.beta": "beta",
        "data.seed": "data.seed",
        "method.seed": "method.seed",
    }


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("none", [], "No sweep directory"),
        ("empty", [], "holds no job directories"),
        ("failed", [], "None of the 1 job(s)"),
        ("done", ["--metric", "eval_accuracy"], "Unknown metric 'eval_accuracy'"),
    ],
)
def test_errors_are_one_paragraph_with_exit_2(tmp_path: Path, setup: str, args: list[str], message: str):
    sweep = tmp_path / "S"
    if setup != "none":
        sweep.mkdir()
    if setup == "failed":
        make_job(sweep, ["method.beta=0.1"], stderr="align: error: boom\n")
    if setup == "done":
        make_job(sweep, ["method.beta=0.1"], metrics("dpo", 0.5, 0.7))
    done = subprocess.run(
        [sys.executable, "-m", "align.report", str(sweep), *args],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("align.report: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    if setup == "done":
        assert "Available metrics: eval_loss, eval_rewards/accuracies, train_loss." in done.stderr


@pytest.mark.slow
def test_report_on_a_real_sweep(tracked_sweep):
    sweep_dir, done = tracked_sweep
    assert done.returncode == 0, done.stderr[-3000:]
    result = subprocess.run(
        [sys.executable, "-m", "align.report", str(sweep_dir)],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    table = rows(sweep_dir)
    assert len(table) == 2 and sorted(r["beta"] for r in table) == ["0.1", "0.5"]
    assert all(r["status"] == "done" and r["method"] == "dpo" for r in table)
    assert "| 1 ★ | dpo |" in (sweep_dir / "report.md").read_text()
    plot = sweep_dir / "eval_rewards_accuracies_vs_beta.png"
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    import matplotlib.image

    assert matplotlib.image.imread(plot).shape[2] in (3, 4)
