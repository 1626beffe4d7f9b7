"""The PNG plots: the metric against beta (else the first numeric swept key), one line per method; bars
per job when no swept key is a number; nothing when no job reports the metric."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image

from align.sweep.plots import plot, x_axis_key
from align.sweep.read import Job, Sweep, load_sweep
from tests.sweep.conftest import PNG_SIGNATURE


def job(method: str, overrides: dict[str, str], loss: float | None) -> Job:
    return Job(",".join(overrides.values()), "done", overrides, {} if loss is None else {"eval_loss": loss}, method)


def test_metric_vs_beta_one_line_per_method(partial_sweep: Path):
    sweep = load_sweep(partial_sweep)
    path = plot(sweep, "eval_rewards/accuracies", sweep.done)
    assert path == partial_sweep / "eval_rewards_accuracies_vs_beta.png"
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert matplotlib.image.imread(path).shape[2] in (3, 4)
    assert not [p for p in partial_sweep.iterdir() if p.name.startswith(".")], "no temp file left"


def test_beta_is_the_x_axis_over_other_numeric_keys(tmp_path: Path):
    jobs = [job("dpo", {"method.learning_rate": lr, "method.beta": b}, 0.5) for lr in ("1e-4", "1e-3") for b in "12"]
    sweep = Sweep(tmp_path, jobs, ["method.learning_rate", "method.beta"])
    assert x_axis_key(sweep, jobs) == "method.beta"
    assert plot(sweep, "eval_loss", jobs) == tmp_path / "eval_loss_vs_beta.png"


def test_bars_per_job_without_a_numeric_key(tmp_path: Path):
    jobs = [job("sft", {"model": name}, loss) for name, loss in (("tiny", 1.2), ("zephyr", 0.9))]
    sweep = Sweep(tmp_path, jobs, ["model"])
    assert x_axis_key(sweep, jobs) is None
    path = plot(sweep, "eval_loss", jobs)
    assert path == tmp_path / "eval_loss_by_job.png" and path.read_bytes().startswith(PNG_SIGNATURE)


def test_no_plot_when_no_job_reports_the_metric(tmp_path: Path):
    jobs = [job("sft", {"method.beta": "0.1"}, None)]
    assert plot(Sweep(tmp_path, jobs, ["method.beta"]), "eval_loss", jobs) is None
    assert list(tmp_path.iterdir()) == []
