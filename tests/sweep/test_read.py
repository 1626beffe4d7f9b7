"""Reading a sweep directory: job states and their overrides, the basic sweeper's plan from multirun.yaml,
and jobs that never started, found by the directory names the pool launcher really gives them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from align.sweep.names import safe_dirname
from align.sweep.read import ReportError, load_sweep, parse_override, short_names, sweep_plan
from tests.conftest import cli_env
from tests.sweep.conftest import SCAN, make_job, metrics, write_multirun_yaml


def test_partial_sweep_jobs_and_their_states(partial_sweep: Path):
    sweep = load_sweep(partial_sweep)
    states = {(job.method, job.overrides.get("method.beta"), job.status) for job in sweep.jobs}
    assert states == {
        ("dpo", "0.1", "done"),
        ("dpo", "0.5", "done"),
        ("ipo", "0.1", "done"),
        ("ipo", "0.5", "done"),
        ("dpo", "0.9", "failed"),
        ("ipo", "0.9", "failed"),  # no .hydra/: its overrides come from the plan, by its directory's name
    }
    assert sweep.swept == ["method.beta"], "method is its own column; max_steps is the same for every job"
    details = {job.overrides["method.beta"] + job.method: job.detail for job in sweep.jobs if job.status == "failed"}
    assert details["0.9dpo"] == "align: error: Invalid value for method.beta: 0.9. Expected a number."
    assert details["0.9ipo"] == "no metrics.json (failed, interrupted or still running)"
    assert sweep.metric_names() == ["eval_loss", "eval_rewards/accuracies", "train_loss"]


def test_jobs_that_never_started_are_missing(partial_sweep: Path):
    shutil.rmtree(partial_sweep / "method.beta=0.5,method.max_steps=4,method=ipo")
    missing = [job for job in load_sweep(partial_sweep).jobs if job.status == "missing"]
    assert [(job.name, job.method, job.detail) for job in missing] == [
        ("method=ipo method.beta=0.5 method.max_steps=4", "ipo", "not started (no directory)")
    ]


def test_the_plan_is_the_basic_sweepers_grid(tmp_path: Path):
    # Hydra's order: the sweeper's params first (the command line replaces a value in place), first key slowest.
    params = {"method": "dpo,ipo", "method.beta": "0.1,0.2"}
    write_multirun_yaml(tmp_path, ["method.beta=range(1,3)", "+seed=7"], params=params)
    keys, jobs = sweep_plan(tmp_path)
    assert keys == ["method", "method.beta"]
    assert jobs == [
        ["method=dpo", "method.beta=1", "+seed=7"],
        ["method=dpo", "method.beta=2", "+seed=7"],
        ["method=ipo", "method.beta=1", "+seed=7"],
        ["method=ipo", "method.beta=2", "+seed=7"],
    ]


@pytest.mark.parametrize(
    ("task", "sweeper"),
    [(["method.beta=interval(0.1,0.9)"], "BasicSweeper"), (["method.beta=0.1,0.5"], "OptunaSweeper")],
)
def test_jobs_are_unknown_where_the_grid_cannot_list_them(tmp_path: Path, task: list[str], sweeper: str):
    write_multirun_yaml(tmp_path, task, sweeper=sweeper)
    assert sweep_plan(tmp_path) == (["method.beta"], None)


def test_no_plan_without_multirun_yaml(tmp_path: Path):
    assert sweep_plan(tmp_path) == ([], None)


def test_unrecorded_jobs_are_found_by_the_launchers_directory_names(tmp_path: Path):
    """Jobs that died before writing .hydra/ are matched by ${safe_dirname:${hydra.job.override_dirname}}."""
    long_name = "x" * 300
    sweep = tmp_path / "S"
    write_multirun_yaml(sweep, ["method.beta=0.1,0.5", f"+data.note={long_name}", "experiment=scan/zephyr"])
    for beta in ("0.1", "0.5"):
        name = safe_dirname(f"+data.note={long_name},experiment=scan/zephyr,method.beta={beta}")
        assert len(name.encode()) == 255  # cut, with a hash tail
        make_job(sweep, [], stderr="align: error: boom\n", record_overrides=False, dirname=name)
    jobs = load_sweep(sweep).jobs
    assert [job.status for job in jobs] == ["failed", "failed"], [job.name for job in jobs]
    assert sorted(job.overrides["method.beta"] for job in jobs) == ["0.1", "0.5"]
    assert {job.overrides["experiment"] for job in jobs} == {"scan/zephyr"}


def test_directory_names_follow_the_sweeps_override_dirname_settings(tmp_path: Path):
    sweep = tmp_path / "S"
    settings = {"kv_sep": ":", "item_sep": "__", "exclude_keys": ["seed"]}
    write_multirun_yaml(sweep, ["method.beta=0.1,0.5", "seed=3", "model=org/tiny"], override_dirname=settings)
    make_job(sweep, [], metrics("dpo", 0.5, 0.7), record_overrides=False, dirname="method.beta:0.1__model:org_tiny")
    jobs = load_sweep(sweep).jobs
    assert [(job.status, job.overrides.get("method.beta")) for job in jobs] == [("done", "0.1"), ("missing", "0.5")]


def test_a_real_pool_sweep_without_hydra_dirs_has_no_missing_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The pool launcher names the directories; the reader must find each planned job in them."""
    from tests.launchers.pool_helpers import run_app

    monkeypatch.setenv("PYTHONPATH", cli_env()["PYTHONPATH"])
    sweep = tmp_path / "S"
    overrides = ("value=1,-1", "seconds=0", "+tag=org/model", f"+note={'n' * 300}", "hydra.output_subdir=null")
    result = run_app(sweep, *overrides, "hydra.launcher.cpu_slots=2")
    assert result.returncode != 0, "value=-1 fails"
    assert len([d for d in sweep.iterdir() if d.is_dir()]) == 2 and not list(sweep.glob("*/.hydra"))
    jobs = {job.overrides.get("value"): job for job in load_sweep(sweep).jobs}
    assert {value: job.status for value, job in jobs.items()} == {"1": "done", "-1": "failed"}
    assert jobs["1"].overrides["tag"] == "org/model" and len(jobs["1"].name.encode()) == 255
    assert "value=-1 is negative" in jobs["-1"].detail


def test_a_missing_directory_is_one_paragraph(tmp_path: Path):
    with pytest.raises(ReportError, match="No sweep directory .* hydra.sweep.dir"):
        load_sweep(tmp_path / "nope")


def test_a_plan_without_directories_says_how_many_jobs_it_lists(tmp_path: Path):
    write_multirun_yaml(tmp_path, SCAN)
    with pytest.raises(ReportError, match=r"Its multirun.yaml lists 6 job\(s\), none started"):
        load_sweep(tmp_path)


def test_overrides_and_short_names():
    assert parse_override("++method.beta=0.1") == ("method.beta", "0.1")
    assert parse_override("~peft") == ("peft", "")
    assert short_names(["method.beta", "data.seed", "method.seed"]) == {
        "method.beta": "beta",
        "data.seed": "data.seed",
        "method.seed": "method.seed",
    }
