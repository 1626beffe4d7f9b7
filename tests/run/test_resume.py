"""Crash-safe runs: a run killed at any step continues from its latest complete checkpoint and ends with the same
metrics as an uninterrupted one; torn checkpoints are skipped; SIGTERM/SIGINT save and stop; writes are atomic."""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from align.errors import ConfigError, EnvironmentProblem
from align.outputs import disk_errors, swap_in, write_json
from align.run import resume
from tests.conftest import REPO, cli_env, compose_cfg, run_align

MAX_STEPS, SAVE_STEPS = 40, 10
# The done-when command (method=dpo method.max_steps=40 method.save_steps=10) on a smaller batch and data, so a run
# takes seconds; losses logged every 3 steps, so checkpoints fall between logs; at most 2 checkpoints kept.
ARGS = (
    "method=dpo", f"method.max_steps={MAX_STEPS}", f"method.save_steps={SAVE_STEPS}",
    "method.save_total_limit=2", "method.logging_steps=3", "method.per_device_train_batch_size=8",
    "data.num_train=240", "data.num_test=8", "data.num_exact_match=0",
)
COMPARED = ("train_loss", "eval_loss", "eval_rewards/margins", "train_steps")


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def assert_same_metrics(run_dir: Path, reference: Path) -> None:
    ours, theirs = metrics(run_dir), metrics(reference)
    for key in COMPARED:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-4), key


def complete_steps(run_dir: Path) -> list[int]:
    return [resume.step_of(p) for p in resume.checkpoints(run_dir) if resume.read_marker(p) is not None]


class Training:
    """`python -m align ARGS` in the background, with its progress read from stderr as it trains."""

    def __init__(self, run_dir: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "align", *ARGS, *extra, f"hydra.run.dir={run_dir}"],
            cwd=REPO, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.stderr = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for chunk in iter(lambda: self.process.stderr.read1(4096), b""):
            self.stderr += chunk

    def step(self) -> int:
        """The latest training step the progress bar has shown."""
        found = re.findall(rb"(\d+)/%d \[" % MAX_STEPS, self.stderr)
        return int(found[-1]) if found else 0

    def signal_at(self, step: int, signum: int, timeout: float = 300) -> int:
        """Send `signum` once training has passed `step`; returns the exit code."""
        deadline = time.time() + timeout
        while self.step() < step and self.process.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        assert self.process.poll() is None, f"finished before step {step}: {self.stderr[-2000:]!r}"
        self.process.send_signal(signum)
        code = self.process.wait(timeout=timeout)
        self.reader.join()
        return code


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    out = run_align(*ARGS, f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    return run_dir


def killed_and_resumed(run_dir: Path, step: int, signum: int = signal.SIGKILL) -> subprocess.CompletedProcess:
    training = Training(run_dir)
    code = training.signal_at(step, signum)
    assert code == (-signal.SIGKILL if signum == signal.SIGKILL else 128 + signum), training.stderr[-2000:]
    assert not (run_dir / "metrics.json").exists()
    assert complete_steps(run_dir) and max(complete_steps(run_dir)) >= SAVE_STEPS
    log = (run_dir / "align.log").read_text()
    again = run_align(*ARGS, f"hydra.run.dir={run_dir}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (run_dir / "align.log").read_text().startswith(log)  # appended to, not replaced
    return again


def test_uninterrupted_run_keeps_the_newest_complete_checkpoints(uninterrupted: Path):
    assert complete_steps(uninterrupted) == [30, 40]
    assert metrics(uninterrupted)["train_steps"] == MAX_STEPS


def test_sigkill_after_step_15_resumes_to_the_same_metrics(uninterrupted: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    again = killed_and_resumed(run_dir, 15)
    assert re.search(r"Resuming from \S+/checkpoint-(10|20|30)", again.stderr)
    assert_same_metrics(run_dir, uninterrupted)
    assert json.loads((run_dir / "run_info.json").read_text())["resumed_from"]
    (summary,) = [e for e in json.loads((run_dir / "log_history.json").read_text()) if "train_loss" in e]
    assert summary["train_loss"] == pytest.approx(metrics(uninterrupted)["train_loss"], abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_random_steps_resumes_to_the_same_metrics(uninterrupted: Path, tmp_path: Path, seed: int):
    run_dir = tmp_path / "run"
    killed_and_resumed(run_dir, random.Random(seed).randrange(SAVE_STEPS + 1, MAX_STEPS - 1))
    assert_same_metrics(run_dir, uninterrupted)


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)], ids=["SIGTERM", "SIGINT"]
)
def test_signal_saves_a_checkpoint_and_says_how_to_resume(uninterrupted: Path, tmp_path: Path, signum: int):
    run_dir = tmp_path / "run"
    training = Training(run_dir)
    assert training.signal_at(15, signum) == 128 + signum
    last = training.stderr.decode(errors="replace").strip().splitlines()[-1]
    match = re.fullmatch(r"align: interrupted at step (\d+); checkpoint saved in (\S+); "
                         r"run the same command again to resume", last)
    assert match, last
    assert Path(match[2]) == run_dir / "checkpoints" / f"checkpoint-{match[1]}"
    assert resume.read_marker(Path(match[2])) is not None and "Traceback" not in training.stderr.decode()
    again = run_align(*ARGS, f"hydra.run.dir={run_dir}")
    assert again.returncode == 0 and f"checkpoint-{match[1]} (step {match[1]})" in again.stderr
    assert_same_metrics(run_dir, uninterrupted)


def test_torn_checkpoint_is_skipped(uninterrupted: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    shutil.copytree(uninterrupted, run_dir)
    (run_dir / "metrics.json").unlink()
    torn = run_dir / "checkpoints" / "checkpoint-40"
    (torn / resume.MARKER).unlink()  # killed while transformers was writing it
    (torn / "optimizer.pt").write_bytes((torn / "optimizer.pt").read_bytes()[:100])
    out = run_align(*ARGS, f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "checkpoint-30 (step 30)" in out.stderr and f"Removing {torn} (incomplete)" in out.stderr
    assert_same_metrics(run_dir, uninterrupted)
    assert complete_steps(run_dir) == [30, 40]


def test_rerun_of_a_finished_run_trains_nothing(uninterrupted: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    shutil.copytree(uninterrupted, run_dir)
    (run_dir / "metrics.json").unlink()
    out = run_align(*ARGS, f"hydra.run.dir={run_dir}")
    assert out.returncode == 0 and "checkpoint-40 (step 40)" in out.stderr
    assert_same_metrics(run_dir, uninterrupted)


@pytest.mark.slow
def test_resume_never_trains_from_scratch(uninterrupted: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    shutil.copytree(uninterrupted, run_dir)
    out = run_align(*ARGS, "resume=never", "method.max_steps=10", f"hydra.run.dir={run_dir}")
    assert out.returncode == 0 and "Resuming" not in out.stderr
    assert metrics(run_dir)["train_steps"] == 10 and complete_steps(run_dir) == [10]


@pytest.mark.slow
def test_sweep_rerun_resumes_an_interrupted_job(tmp_path: Path):
    sweep = ("-m", *ARGS, "method.beta=0.2", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    first = run_align(*sweep)
    assert first.returncode == 0, first.stderr[-3000:]
    (job,) = [p for p in (tmp_path / "sweep").iterdir() if (p / "metrics.json").is_file()]
    (job / "metrics.json").unlink()  # as if the job had died after its last checkpoint
    again = run_align(*sweep)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "checkpoint-40 (step 40)" in (job / "align.log").read_text()
    assert metrics(job)["train_steps"] == MAX_STEPS


@pytest.mark.slow
def test_sigterm_to_a_multi_process_run_stops_every_worker_after_a_checkpoint(tmp_path: Path):
    run_dir, ddp = tmp_path / "run", ("hardware=ddp", "hardware.num_processes=2")
    training = Training(run_dir, *ddp)
    assert training.signal_at(15, signal.SIGTERM) == 128 + signal.SIGTERM  # sent to the parent process only
    stderr = training.stderr.decode(errors="replace")
    assert stderr.strip().splitlines()[-1] == (
        "align: SIGTERM passed on to the 2 workers; run the same command again to resume from the latest "
        "complete checkpoint")
    step = int(re.search(r"align: interrupted at step (\d+); checkpoint saved in", stderr)[1])
    assert step in complete_steps(run_dir) and not (run_dir / "metrics.json").exists()
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(run_dir).encode() in _read(p)]
    again = run_align(*ARGS, *ddp, f"hydra.run.dir={run_dir}")
    assert again.returncode == 0 and f"checkpoint-{step} (step {step})" in again.stderr
    assert metrics(run_dir)["train_steps"] == MAX_STEPS


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # the process ended meanwhile
        return b""


PASSING_PARENT = """
import subprocess, sys
from align.hardware.launch import wait_passing_on_signals
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print(wait_passing_on_signals(child), flush=True)
"""
SAVING_CHILD = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (time.sleep(0.5), print("child saved", flush=True), sys.exit(143)))
print("child ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP as SIGTERM"])
def test_the_launching_process_passes_signals_on_and_waits_for_its_workers(signum: int):
    parent = subprocess.Popen([sys.executable, "-c", PASSING_PARENT, SAVING_CHILD], cwd=REPO, env=cli_env(),
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout.readline() == "child ready\n"
    parent.send_signal(signum)
    assert parent.stdout.read().splitlines() == ["child saved", f"(143, {int(signum)})"]
    assert parent.wait(timeout=30) == 0


# ---------------------------------------------------------------------------------- without training


def fake_checkpoint(run_dir: Path, step: int, complete: bool = True, **marker) -> Path:
    path = run_dir / "checkpoints" / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text("{}")
    if complete:
        write_json(path / resume.MARKER, {"step": step, "loss_sum": 1.0, "settings": {}, **marker})
    return path


def test_latest_complete_skips_torn_and_garbled_checkpoints(tmp_path: Path):
    assert resume.latest_complete(tmp_path) is None
    fake_checkpoint(tmp_path, 5)
    ten = fake_checkpoint(tmp_path, 10)
    fake_checkpoint(tmp_path, 20, complete=False)
    (fake_checkpoint(tmp_path, 30, complete=False) / resume.MARKER).write_text('{"step": 30, "loss')
    assert resume.latest_complete(tmp_path) == ten
    assert [resume.step_of(p) for p in resume.checkpoints(tmp_path)] == [5, 10, 20, 30]


def test_resume_auto_refuses_another_runs_checkpoint(tmp_path: Path):
    cfg = compose_cfg("method=dpo", "method.beta=0.3")
    fake_checkpoint(tmp_path, 10, settings={**resume.settings(cfg), "method.beta": 0.1})
    with pytest.raises(ConfigError, match=r"checkpoint-10 of a different run: method.beta was 0.1, now 0.3"):
        resume.checkpoint_to_resume(cfg, tmp_path)
    longer = compose_cfg("method=dpo", "method.beta=0.1", "method.max_steps=500", "method.save_steps=7")
    assert resume.checkpoint_to_resume(longer, tmp_path) == tmp_path / "checkpoints" / "checkpoint-10"
    assert resume.checkpoint_to_resume(compose_cfg("method=dpo", "resume=never"), tmp_path) is None


def test_resume_value_must_be_a_complete_checkpoint(tmp_path: Path):
    resume.check_value("auto")
    resume.check_value(str(fake_checkpoint(tmp_path, 10)))
    with pytest.raises(ConfigError, match="not a complete align checkpoint"):
        resume.check_value(str(fake_checkpoint(tmp_path, 20, complete=False)))
    with pytest.raises(ConfigError, match="Expected auto"):
        resume.check_value("sometimes")


def test_swap_in_replaces_a_directory_whole(tmp_path: Path):
    target, staging = tmp_path / "model", tmp_path / ".model.staging"
    target.mkdir()
    (target / "old.bin").write_text("old")
    staging.mkdir()
    (staging / "new.bin").write_text("new")
    swap_in(staging, target)
    assert [p.name for p in target.iterdir()] == ["new.bin"] and not staging.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_failed_write_leaves_the_old_file(tmp_path: Path):
    path = tmp_path / "metrics.json"
    write_json(path, {"train_loss": 1.0})
    loop: dict = {"train_loss": 2.0}
    loop["loop"] = loop
    with pytest.raises(ValueError, match="Circular"):  # json fails after writing part of the file
        write_json(path, loop)
    assert json.loads(path.read_text()) == {"train_loss": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize(
    "error",
    [OSError(28, "No space left on device", "/r/x"), RuntimeError("I/O error: File too large (os error 27)"),
     RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")],
)
def test_full_disk_errors_become_one_paragraph(error: Exception, tmp_path: Path):
    with pytest.raises(EnvironmentProblem, match="is full"), disk_errors(tmp_path):
        raise error
    with pytest.raises(ValueError), disk_errors(tmp_path):
        raise ValueError("not about the disk")
