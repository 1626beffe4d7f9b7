"""The pool launcher as Hydra and a user see it: Hydra's launcher suites, real sweeps of a small app,
failure isolation, rerun skipping, simulated GPUs, and JobReturns that sweepers can use."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite
from hydra.test_utils.test_utils import TSweepRunner
from hydra_plugins.align_pool_launcher.pool_launcher import PoolLauncher

from tests.launchers.app.pool_app import task
from tests.launchers.pool_helpers import APP, metrics, run_app


def test_discovery():
    assert PoolLauncher.__name__ in [cls.__name__ for cls in Plugins.instance().discover(Launcher)]


@pytest.mark.parametrize("launcher_name, overrides", [("pool", ["hydra.launcher.cpu_slots=2"])])
class TestPoolLauncher(LauncherTestSuite):
    """Hydra's own launcher test suite, run against the pool launcher."""


@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [({}, ["-m", "hydra/job_logging=disabled", "hydra/launcher=pool", "hydra.launcher.cpu_slots=2"])],
)
class TestPoolLauncherIntegration(IntegrationTestSuite):
    """Hydra's integration suite: real scripts started in subprocesses with the pool launcher."""


def _overlap(a: dict, b: dict) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def test_four_jobs_on_two_cpu_slots(tmp_path: Path):
    sweep = tmp_path / "S"
    result = run_app(sweep, "value=1,2,3,4", "seconds=1.5", "hydra.launcher.cpu_slots=2")
    assert result.returncode == 0, result.stderr
    jobs = metrics(sweep)
    assert sorted(jobs) == [f"seconds=1.5,value={i}" for i in range(1, 5)]
    for name, job in jobs.items():
        assert (sweep / name / "stdout.log").read_text().strip() == f"job {job['value']} finished"
        assert (sweep / name / ".hydra" / "config.yaml").is_file()
    runs = list(jobs.values())
    concurrent = [sum(_overlap(a, b) for b in runs) for a in runs]  # counts itself
    assert max(concurrent) == 2, "two slots: exactly two jobs at a time"
    assert len({job["pid"] for job in runs}) == 4, "one process per job"
    for a in runs:
        for b in runs:
            if a is not b and _overlap(a, b):
                assert a["port"] != b["port"], "running jobs share a rendezvous port"
        assert a["port"] == a["master_port"] and int(a["port"]) > 0
        assert a["cuda_visible_devices"] == ""
        assert a["cuda_device_order"] == "PCI_BUS_ID", "CUDA counts GPUs as nvidia-smi does"
        cores = len(os.sched_getaffinity(0))
        assert a["omp_num_threads"] == str(max(1, cores // 2))
    assert "[pool] 4 jobs in" in result.stderr and "4 done, 0 skipped, 0 failed" in result.stderr


def test_failing_jobs_do_not_stop_the_others(tmp_path: Path):
    sweep = tmp_path / "S"
    result = run_app(sweep, "value=1,-1,2,3", "crash_on=3", "hydra.launcher.cpu_slots=2")
    assert result.returncode != 0
    assert sorted(metrics(sweep)) == ["crash_on=3,value=1", "crash_on=3,value=2"]
    failed_log = sweep / "crash_on=3,value=-1" / "stderr.log"
    assert "pool_app: error: value=-1 is negative" in failed_log.read_text()
    assert "1 done" not in result.stderr and "2 done, 0 skipped, 2 failed" in result.stderr
    failed_row = r"failed\s+#1\s+value=-1 crash_on=3\s+logs: \S*/crash_on=3,value=-1/stderr.log"
    assert re.search(failed_row, result.stderr)
    assert "it exited with code 2" in result.stderr
    assert re.search(r"failed\s+#3\s+value=3 crash_on=3", result.stderr)
    assert "killed by SIGKILL" in result.stderr
    assert "Error executing job" not in result.stderr  # the summary already names them; no Hydra extra line
    assert re.search(r"^Job #1 \(value=-1 crash_on=3\) failed: it exited with code 2", result.stderr, re.M)
    assert "retried" not in result.stderr and not list(sweep.glob("*/stderr.attempt*.log")), "not a port clash"


def test_rerun_skips_complete_jobs_and_says_so(tmp_path: Path):
    sweep = tmp_path / "S"
    args = ("value=1,2,-1", "hydra.launcher.cpu_slots=2")
    first = run_app(sweep, *args)
    assert first.returncode != 0
    stamps = {name: (sweep / name / "metrics.json").stat().st_mtime_ns for name in metrics(sweep)}
    failed_log = sweep / "value=-1" / "stderr.log"
    failed_log.write_text("stale\n")

    tic = time.monotonic()
    again = run_app(sweep, *args)
    assert again.returncode != 0, "the failed job runs again and fails again"
    out = again.stdout + again.stderr
    for name in ("value=1", "value=2"):
        assert f"skipped: complete result in {sweep / name}" in out
        assert (sweep / name / "metrics.json").stat().st_mtime_ns == stamps[name]
    assert "value=-1 -- skipped" not in out
    assert "pool_app: error" in failed_log.read_text(), "the failed job ran again"
    assert "0 done, 2 skipped, 1 failed" in again.stderr
    assert time.monotonic() - tic < 30


def test_changed_overrides_are_not_a_complete_result(tmp_path: Path):
    sweep = tmp_path / "S"
    assert run_app(sweep, "value=1,2").returncode == 0
    (sweep / "value=1" / ".hydra" / "overrides.yaml").write_text("- value=9\n")
    again = run_app(sweep, "value=1,2")
    assert again.returncode == 0
    assert "1 done, 1 skipped, 0 failed" in again.stderr


def test_simulated_eight_gpus_two_per_job(tmp_path: Path):
    sweep = tmp_path / "S"
    gpus = ("hydra.launcher.devices=[0,1,2,3,4,5,6,7]", "hydra.launcher.gpus_per_job=2")
    result = run_app(sweep, "value=range(8)", "seconds=2", *gpus)
    assert result.returncode == 0, result.stderr
    runs = list(metrics(sweep).values())
    assert len(runs) == 8
    for a in runs:
        devices = set(a["cuda_visible_devices"].split(","))
        assert len(devices) == 2 and devices <= {str(i) for i in range(8)}
        assert a["omp_num_threads"] == "", "GPU jobs keep every core's threads"
        for b in runs:
            if a is not b and _overlap(a, b):
                assert not devices & set(b["cuda_visible_devices"].split(",")), "two running jobs share a GPU"
                assert a["port"] != b["port"]
    first_wave = sorted(runs, key=lambda r: r["start"])[:4]
    assert all(_overlap(a, b) for a in first_wave for b in first_wave), "four jobs fill the 8 GPUs at once"
    assert {a["cuda_device_order"] for a in runs} == {"PCI_BUS_ID"}
    assert "trains in one process" in result.stdout + result.stderr  # the app's hardware.distributed is "no"


IDLE_GPUS = (
    "Jobs get 2 GPUs each but hardware=auto trains in one process, so 1 of each job's 2 GPUs stay idle: "
    "use hardware=ddp/fsdp/zero3, or hydra.launcher.gpus_per_job=1."
)


def test_gpus_idle_in_a_single_process_job_are_warned_about_once(tmp_path: Path):
    gpus = ("hydra.launcher.devices=[0,1]", "hydra.launcher.gpus_per_job=2", "seconds=0")
    result = run_app(tmp_path / "S", "value=1,2", *gpus)
    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).count(IDLE_GPUS) == 1
    multi = run_app(tmp_path / "M", "value=1,2", "hardware.distributed=ddp", *gpus)
    assert multi.returncode == 0, multi.stderr
    assert "trains in one process" not in multi.stdout + multi.stderr
    one = run_app(tmp_path / "O", "value=1", "hydra.launcher.devices=[0,1]", "seconds=0")
    assert one.returncode == 0 and "trains in one process" not in one.stdout + one.stderr


def test_a_device_order_the_user_set_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    assert run_app(tmp_path / "S", "value=1", "seconds=0").returncode == 0
    assert metrics(tmp_path / "S")["seconds=0,value=1"]["cuda_device_order"] == "FASTEST_FIRST"


def test_a_job_whose_port_was_taken_runs_again_on_a_new_port(tmp_path: Path):
    sweep = tmp_path / "S"
    result = run_app(sweep, "port_clashes=0,1", "seconds=0", "hydra.launcher.cpu_slots=2")
    assert result.returncode == 0, result.stderr
    assert sorted(metrics(sweep)) == ["port_clashes=0,seconds=0", "port_clashes=1,seconds=0"]
    job = sweep / "port_clashes=1,seconds=0"
    first, second = (job / "attempt_ports").read_text().split()
    assert first != second and metrics(sweep)[job.name]["port"] == second
    assert "EADDRINUSE" in (job / "stderr.attempt1.log").read_text()
    assert (job / "stderr.log").read_text().splitlines()[0] == (
        f"[pool] attempt 2 of 3: the rendezvous port {first} of attempt 1 was taken by another process "
        "(address already in use; its log: stderr.attempt1.log)."
    )
    assert not list((sweep / "port_clashes=0,seconds=0").glob("stderr.attempt*"))
    assert "2 done, 0 skipped, 0 failed (1 retried on a new port: their rendezvous port was taken)" in result.stderr
    assert "#1 retried: port_clashes=1 seconds=0  attempt 2 of 3" in result.stderr
    assert "(attempt 2 of 3; earlier attempts lost their rendezvous port to another process)" in result.stderr


def test_a_job_that_keeps_losing_its_port_fails_after_three_attempts(tmp_path: Path):
    sweep = tmp_path / "S"
    result = run_app(sweep, "value=1", "port_clashes=5", "seconds=0")
    assert result.returncode != 0
    job = sweep / "port_clashes=5,seconds=0,value=1"
    assert len(set((job / "attempt_ports").read_text().split())) == 3
    logs = ["stderr.attempt1.log", "stderr.attempt2.log", "stderr.log"]
    assert sorted(p.name for p in job.glob("stderr*.log")) == logs
    assert "0 done, 0 skipped, 1 failed (1 retried on a new port" in result.stderr
    assert "it exited with code 1. Last stderr line: torch.distributed.DistNetworkError" in result.stderr
    assert "(attempt 3 of 3; every attempt lost its rendezvous port to another process)" in result.stderr


def _sweep(hydra_sweep_runner: TSweepRunner, tmp_path: Path, *overrides: str):
    return hydra_sweep_runner(
        calling_file=str(APP),
        calling_module=None,
        task_function=task,
        config_path=".",
        config_name="config",
        overrides=["hydra.launcher.cpu_slots=2", "seconds=0", *overrides],
        temp_dir=tmp_path / "S",
    )


def test_job_returns_carry_the_metrics(hydra_sweep_runner: TSweepRunner, tmp_path: Path):
    with _sweep(hydra_sweep_runner, tmp_path, "value=1,2") as sweep:
        returns = sweep.returns[0]
    assert [r.status for r in returns] == [JobStatus.COMPLETED] * 2
    assert [r.return_value["score"] for r in returns] == [2.0, 4.0]


def test_return_metric_gives_sweepers_one_number(hydra_sweep_runner: TSweepRunner, tmp_path: Path):
    with _sweep(hydra_sweep_runner, tmp_path, "value=1,2", "hydra.launcher.return_metric=score") as sweep:
        assert [r.return_value for r in sweep.returns[0]] == [2.0, 4.0]
    # Skipped jobs (complete from the run above) return the same number, read from metrics.json.
    with _sweep(hydra_sweep_runner, tmp_path, "value=1,2", "hydra.launcher.return_metric=score") as sweep:
        assert [r.return_value for r in sweep.returns[0]] == [2.0, 4.0]


def test_missing_return_metric_fails_the_job(tmp_path: Path):
    result = run_app(tmp_path / "S", "value=1", "seconds=0", "hydra.launcher.return_metric=nope")
    assert result.returncode != 0
    assert "has no metric 'nope'" in result.stderr


def test_sigterm_stops_running_jobs(tmp_path: Path):
    sweep = tmp_path / "S"
    args = [sys.executable, str(APP), "-m", "value=1,2,3", "seconds=60", "hydra.launcher.cpu_slots=2"]
    parent = subprocess.Popen([*args, f"hydra.sweep.dir={sweep}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pid_files = [sweep / "seconds=60,value=1" / "pid", sweep / "seconds=60,value=2" / "pid"]
    deadline = time.monotonic() + 30
    while not all(p.is_file() and p.read_text() for p in pid_files):
        assert time.monotonic() < deadline and parent.poll() is None, parent.communicate()
        time.sleep(0.1)
    parent.send_signal(signal.SIGTERM)
    parent.communicate(timeout=30)
    assert parent.returncode == 128 + signal.SIGTERM
    for pid_file in pid_files:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text()), 0)
    assert not (sweep / "seconds=60,value=3").exists(), "the queued job never started"


@pytest.mark.slow
def test_align_sweep_isolates_a_bad_config_and_reruns_only_it(tmp_path: Path):
    from tests.conftest import run_align

    args = ["-m", "method=dpo", "method.beta=0.1,-1", "method.max_steps=2", "hydra.launcher.cpu_slots=2"]
    args.append(f"hydra.sweep.dir={tmp_path / 'S'}")
    first = run_align(*args, cwd=tmp_path)
    assert first.returncode != 0
    assert [p.parent.name for p in (tmp_path / "S").glob("*/metrics.json")] == [
        "method.beta=0.1,method.max_steps=2,method=dpo"
    ], first.stderr
    assert "1 done, 0 skipped, 1 failed" in first.stderr and "method.beta" in first.stderr
    info = json.loads((tmp_path / "S" / "method.beta=0.1,method.max_steps=2,method=dpo" / "run_info.json").read_text())
    assert info["overrides"] == ["method=dpo", "method.beta=0.1", "method.max_steps=2"]  # the job's own
    assert info["rerun"].startswith("python -m align method=dpo method.beta=0.1 method.max_steps=2 hydra.run.dir=")
    again = run_align(*args, cwd=tmp_path)
    assert again.returncode != 0
    assert "skipped: complete result in" in again.stdout and "0 done, 1 skipped, 1 failed" in again.stderr
