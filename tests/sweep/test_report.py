"""`python -m align.report SWEEP_DIR`: what the command prints and writes, its --metric and --goal, its
one-paragraph errors with exit 2, and the report of a real (tiny) tracked sweep."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from align import report
from tests.conftest import REPO, cli_env
from tests.sweep.conftest import PNG_SIGNATURE, make_job, metrics, rows


def align_report(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "align.report", *args],
        cwd=REPO,
        env=cli_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_command_writes_and_names_every_file(partial_sweep: Path, capsys: pytest.CaptureFixture):
    assert report.main([str(partial_sweep)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"align.report: wrote {partial_sweep / name}"
        for name in (
            "results.csv",
            "eval_rewards_accuracies_vs_beta.png",
            "eval_loss_vs_beta.png",
            "train_loss_vs_beta.png",
            "report.md",
        )
    ] + ["align.report: Best beta by eval_rewards/accuracies: dpo beta=0.5 (0.61), ipo beta=0.1 (0.58)."]
    assert "**eval_rewards/accuracies** (higher is better)" in (partial_sweep / "report.md").read_text()
    assert "4 job(s) done, 2 failed, 0 missing" in (partial_sweep / "report.md").read_text()


def test_metric_and_goal_choose_the_ranking(partial_sweep: Path):
    assert report.main([str(partial_sweep), "--metric", "eval_loss"]) == 0
    assert [r["eval_loss"] for r in rows(partial_sweep) if r["status"] == "done"] == ["0.3", "0.31", "0.68", "0.69"]
    assert "(lower is better)" in (partial_sweep / "report.md").read_text()
    assert report.main([str(partial_sweep), "--metric", "eval_loss", "--goal", "max"]) == 0
    assert [r["eval_loss"] for r in rows(partial_sweep) if r["status"] == "done"] == ["0.69", "0.68", "0.31", "0.3"]
    assert "(higher is better)" in (partial_sweep / "report.md").read_text()


def test_a_sweep_without_multirun_yaml(tmp_path: Path):
    make_job(tmp_path, ["method.learning_rate=1e-4"], {"method": "sft", "eval_loss": 1.2, "train_loss": 1.5})
    make_job(tmp_path, ["method.learning_rate=1e-3"], {"method": "sft", "eval_loss": 0.9, "train_loss": 1.1})
    assert report.main([str(tmp_path)]) == 0
    assert [r["learning_rate"] for r in rows(tmp_path)] == ["1e-3", "1e-4"]
    assert (tmp_path / "eval_loss_vs_learning_rate.png").is_file()


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
    done = align_report(str(sweep), *args)
    assert done.returncode == 2
    assert done.stderr.startswith("align.report: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    if setup == "done":
        assert "Available metrics: eval_loss, eval_rewards/accuracies, train_loss." in done.stderr


@pytest.mark.slow
def test_report_on_a_real_sweep(tracked_sweep, tmp_path: Path):
    """Also: the jobs logged to W&B (offline), so the results table joins their group as a `report` run."""
    from tests.tracking.conftest import offline_runs

    sweep_dir, done = tracked_sweep
    assert done.returncode == 0, done.stderr[-3000:]
    # Its W&B files elsewhere: the tracking tests count the jobs' runs under the shared sweep directory.
    result = align_report(str(sweep_dir), env={"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    table = rows(sweep_dir)
    assert len(table) == 2 and sorted(r["beta"] for r in table) == ["0.1", "0.5"]
    assert all(r["status"] == "done" and r["method"] == "dpo" for r in table)
    markdown = (sweep_dir / "report.md").read_text()
    assert "Metric: **eval_exact_match** (higher is better)" in markdown, "the arithmetic data's evaluation"
    assert "| 1 ★ | dpo |" in markdown and "Best beta by eval_exact_match: dpo beta=" in markdown
    plot = sweep_dir / "eval_rewards_accuracies_vs_beta.png"
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    import matplotlib.image

    assert matplotlib.image.imread(plot).shape[2] in (3, 4)
    [run] = offline_runs(tmp_path)
    groups = {json.loads(path.read_text())["wandb"]["group"] for path in sweep_dir.glob("*/tracking.json")}
    assert (run.job_type, groups) == ("report", {run.group}) and run.summary["metric"] == "eval_exact_match"
