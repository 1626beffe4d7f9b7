"""The pool launcher's work: compose each job, skip complete ones, run the rest in spawned processes on
their own devices (again on a new port when its rendezvous port was taken), and collect JobReturns.
What runs inside a job's process is in _process.py."""

from __future__ import annotations

import copy
import json
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from omegaconf import DictConfig, OmegaConf, open_dict

from align.hardware.devices import visible_devices

from ._process import STDERR_LOG, execute_job
from ._progress import Progress, Row
from ._returns import JobFailedError, ReportedFailure, job_directory, job_return, one_line
from ._scheduler import Scheduler, free_port, port_was_taken

log = logging.getLogger(__name__)

# How often the live line refreshes while no job finishes.
_TICK_S = 1.0
# Runs of a job whose rendezvous port another process took between free_port() and the job's bind.
MAX_ATTEMPTS = 3


@dataclass
class _Job:
    num: int
    overrides: list[str]
    row: Row
    config: DictConfig | None = None
    ret: JobReturn | None = None
    process: Any = None
    port: int = 0
    devices: tuple[str, ...] = ()
    ports_tried: set[int] = field(default_factory=set)
    result_path: Path = field(default_factory=Path)
    same_as: _Job | None = None  # an identical job earlier in this batch (Optuna may ask twice)


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
    """Runs every job (or skips it), waits for all, and returns their JobReturns in input order."""
    setup_globals()
    config = launcher.config
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    settings = launcher.settings
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)

    devices = visible_devices() if settings.devices is None else [str(d) for d in settings.devices]
    jobs = [_prepare(launcher, initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
    _share_identical_jobs(jobs)
    todo = [job for job in jobs if job.row.state == "queued"]
    scheduler = Scheduler([job.num for job in todo], devices, settings.gpus_per_job, settings.cpu_slots)
    _log_plan(scheduler, devices, settings, sweep_dir, jobs)

    progress = Progress([job.row for job in jobs])
    if todo:
        _run(launcher, {job.num: job for job in todo}, scheduler, progress)
    for job in jobs:
        if job.same_as is not None:
            job.ret, job.row.state = copy.copy(job.same_as.ret), job.same_as.row.state
            job.row.detail = f"same overrides as #{job.same_as.num}: {job.same_as.row.detail}".rstrip(": ")
    progress.close()
    sys.stderr.write(progress.summary() + "\n")
    sys.stderr.flush()
    failed = sum(job.row.state == "failed" for job in jobs)
    for job in jobs:
        assert job.ret is not None
        if job.ret.status is JobStatus.FAILED:
            job.ret = ReportedFailure(**{f.name: getattr(job.ret, f.name) for f in fields(JobReturn)})
            job.ret.return_value = JobFailedError(
                f"Job #{job.num} ({_shown(job.overrides)}) failed: {job.row.detail} "
                f"Its logs: {job.row.job_dir}/{STDERR_LOG}. {failed} of {len(jobs)} jobs failed."
            )
    return [job.ret for job in jobs if job.ret is not None]


def _prepare(launcher: Any, num: int, overrides: list[str]) -> _Job:
    """Composes the job's config and directory; a job already complete becomes a skipped JobReturn."""
    job = _Job(num=num, overrides=overrides, row=Row(num, _shown(overrides), "queued", ""))
    try:
        cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, overrides)
        with open_dict(cfg):
            cfg.hydra.job.id = f"{cfg.hydra.job.name}_{num}"
            cfg.hydra.job.num = num
        job.row.job_dir = str(job_directory(cfg))
    except Exception as error:  # one job's bad override should not take the sweep down
        job.ret = JobReturn(overrides=overrides, status=JobStatus.FAILED)
        job.row.state, job.row.detail = "failed", f"its config did not compose: {one_line(error)}"
        return job
    job.config = cfg
    settings = launcher.settings
    metrics = None
    if settings.skip_complete:
        metrics = _complete_result(cfg, Path(job.row.job_dir), overrides, settings.result_file)
    if metrics is not None:
        job.ret = job_return(cfg, JobStatus.COMPLETED, metrics)
        job.row.state = "skipped"
        _apply_return_metric(job, settings.return_metric)
    return job


def _complete_result(cfg: DictConfig, job_dir: Path, overrides: list[str], result_file: str) -> dict | None:
    """The job's metrics when its directory holds a result for exactly these overrides, else None."""
    result = job_dir / result_file
    if not result.is_file():
        return None
    # With output_subdir null the app writes .hydra/ itself (align does, after validating).
    recorded = job_dir / str(cfg.hydra.output_subdir or ".hydra") / "overrides.yaml"
    try:
        if sorted(map(str, OmegaConf.load(recorded))) != sorted(overrides):
            return None
        metrics = json.loads(result.read_text())
    except (OSError, ValueError, TypeError):  # half-written or foreign files: run the job again
        return None
    return metrics if isinstance(metrics, dict) else None


def _share_identical_jobs(jobs: list[_Job]) -> None:
    """Identical jobs run once and share the result; different jobs must not share a directory."""
    seen: dict[str, _Job] = {}
    for job in jobs:
        if job.config is None:
            continue
        first = seen.setdefault(job.row.job_dir, job)
        if first is job:
            continue
        if sorted(first.overrides) != sorted(job.overrides):
            raise JobFailedError(
                f"Jobs #{first.num} and #{job.num} would share the directory {job.row.job_dir}. "
                "hydra.sweep.subdir must differ per job, e.g. ${safe_dirname:${hydra.job.override_dirname}}."
            )
        job.same_as, job.row.state = first, "skipped"


def _log_plan(scheduler: Scheduler, devices: list[str], settings: Any, sweep_dir: Path, jobs: list[_Job]) -> None:
    if scheduler.uses_gpus:
        where = f"{scheduler.slots} at a time on GPUs {','.join(devices)}, {settings.gpus_per_job} per job"
        if scheduler.idle_devices:
            idle = scheduler.idle_devices
            log.warning(f"{idle} of {len(devices)} devices stay idle: not a multiple of gpus_per_job")
        _warn_single_process(settings.gpus_per_job, [job for job in jobs if job.row.state == "queued"])
    else:
        where = f"{scheduler.slots} at a time on CPU slots (no GPU; hydra.launcher.cpu_slots)"
    log.info(f"Pool launcher: {len(jobs)} jobs, {where}; sweep output dir: {sweep_dir}")
    for job in jobs:
        note = {"skipped": f" -- skipped: complete result in {job.row.job_dir}", "failed": " -- cannot run"}
        shown = f" -- same overrides as #{job.same_as.num}" if job.same_as else note.get(job.row.state, "")
        log.info(f"\t#{job.num} : {job.row.overrides}{shown}")


def _warn_single_process(gpus_per_job: int, jobs: list[_Job]) -> None:
    """Several GPUs per job help only a multi-process hardware option; one process uses one GPU."""
    if gpus_per_job < 2:
        return
    names = []
    for job in jobs:
        # The launcher runs any Hydra app: only a config with align's hardware group says this.
        distributed = OmegaConf.select(job.config, "hardware.distributed", throw_on_resolution_failure=False)
        if distributed == "no":
            name = OmegaConf.select(job.config, "hydra.runtime.choices.hardware", throw_on_resolution_failure=False)
            name = name or OmegaConf.select(job.config, "hardware.name", throw_on_resolution_failure=False)
            names.append(str(name))
    if names:
        n = gpus_per_job
        log.warning(
            f"Jobs get {n} GPUs each but hardware={','.join(dict.fromkeys(names))} trains in one process, so "
            f"{n - 1} of each job's {n} GPUs stay idle: use hardware=ddp/fsdp/zero3, or hydra.launcher.gpus_per_job=1."
        )


def _run(launcher: Any, jobs: dict[int, _Job], scheduler: Scheduler, progress: Progress) -> None:
    """The event loop: start what fits, wait for any job to exit, collect it, repeat."""
    import cloudpickle  # only the parent of a sweep needs it; keeps plugin discovery light

    context = multiprocessing.get_context("spawn")
    shared = cloudpickle.dumps((launcher.hydra_context, launcher.task_function, Singleton.get_state()))
    threads = _threads_per_job(scheduler)
    scratch = Path(tempfile.mkdtemp(prefix="align-pool-"))
    try:
        with _sigterm_raises():
            while not scheduler.done:
                for num, devices in scheduler.start_ready():
                    jobs[num].devices = devices
                    _start(context, jobs[num], shared, scratch, threads, _ports(jobs, scheduler))
                progress.update()
                running = {jobs[num].process.sentinel: jobs[num] for num in scheduler.running}
                for sentinel in wait(list(running), timeout=_TICK_S):
                    job = running[sentinel]
                    _collect(job, launcher.settings.return_metric)
                    if _port_was_taken(job):
                        note = _retry_note(job)
                        _start(context, job, shared, scratch, threads, _ports(jobs, scheduler), f"[pool] {note}")
                        progress.event(f"#{job.num} retried: {job.row.overrides}  {note}")
                        continue
                    scheduler.finish(job.num)
                    progress.event(f"#{job.num} {job.row.state}: {job.row.overrides}  {job.row.detail}".rstrip())
    except BaseException:
        # Ctrl-C, SIGTERM or a launcher bug: leave no orphan jobs holding GPUs.
        for num in scheduler.running:
            _stop(jobs[num].process)
        raise
    finally:
        progress.close()
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM (kill, a batch system) would end this process without cleanup: make it an exception."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers
        return

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _threads_per_job(scheduler: Scheduler) -> int | None:
    if scheduler.uses_gpus or scheduler.slots < 2 or "OMP_NUM_THREADS" in os.environ:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // scheduler.slots)


def _start(
    context: Any, job: _Job, shared: bytes, scratch: Path, threads: int | None, ports: set[int], note: str = ""
) -> None:
    """Starts the job's process on its devices and a port that no running job holds; `note` heads its stderr.log."""
    import cloudpickle

    job.port = free_port(ports | job.ports_tried)
    job.ports_tried.add(job.port)
    env = {"ALIGN_MAIN_PROCESS_PORT": str(job.port), "MASTER_PORT": str(job.port), "PYTHONUNBUFFERED": "1"}
    # nvidia-smi (where the device ids come from) counts GPUs in PCI bus order; CUDA by default fastest
    # first. A CUDA_DEVICE_ORDER the user set stays: their device ids mean that order.
    env["CUDA_DEVICE_ORDER"] = os.environ.get("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    if job.devices:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(job.devices)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    job.result_path = scratch / f"{job.num}.{job.row.attempts}.pkl"
    job.process = context.Process(
        target=execute_job,
        args=(shared, cloudpickle.dumps(job.config), str(job.result_path), job.row.job_dir, note),
        name=f"pool-job-{job.num}",
    )
    with _environment(env):
        job.process.start()
    job.row.state = "running"


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """Spawned children copy os.environ when they start: set the job's variables for that moment only.

    Children see CUDA_VISIBLE_DEVICES before they import anything (torch included)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _ports(jobs: dict[int, _Job], scheduler: Scheduler) -> set[int]:
    return {jobs[num].port for num in scheduler.running}


def _port_was_taken(job: _Job) -> bool:
    """The job failed because another process bound its rendezvous port first, and may run again."""
    if job.row.state != "failed" or job.row.attempts >= MAX_ATTEMPTS:
        return False
    return port_was_taken(_tail(Path(job.row.job_dir) / STDERR_LOG))


def _retry_note(job: _Job) -> str:
    """Keeps the failed attempt's stderr.log beside the next one's; says which attempt comes next."""
    previous = f"stderr.attempt{job.row.attempts}.log"
    stderr = Path(job.row.job_dir) / STDERR_LOG
    stderr.replace(stderr.with_name(previous))
    job.row.attempts += 1
    job.row.detail = ""
    return (
        f"attempt {job.row.attempts} of {MAX_ATTEMPTS}: the rendezvous port {job.port} of attempt "
        f"{job.row.attempts - 1} was taken by another process (address already in use; its log: {previous})."
    )


def _collect(job: _Job, return_metric: str | None) -> None:
    job.process.join()
    ret = _read_result(job.result_path)
    if ret is None:
        assert job.config is not None
        ret = job_return(job.config, JobStatus.FAILED, None)
        ret.return_value = JobFailedError(_death(job.process.exitcode, Path(job.row.job_dir)))
    job.ret = ret
    job.row.state = "done" if ret.status is JobStatus.COMPLETED else "failed"
    if job.row.state == "failed":
        job.row.detail = str(ret._return_value)
        tail = _last_line(Path(job.row.job_dir) / STDERR_LOG)
        if tail and tail not in job.row.detail:
            job.row.detail += f" Last stderr line: {tail}"
    if job.row.attempts > 1:
        lost = job.row.state == "failed" and port_was_taken(_tail(Path(job.row.job_dir) / STDERR_LOG))
        why = "every attempt lost its" if lost else "earlier attempts lost their"
        job.row.detail = (
            f"{job.row.detail} (attempt {job.row.attempts} of {MAX_ATTEMPTS}; {why} rendezvous port to another process)"
        ).lstrip()
    _apply_return_metric(job, return_metric)


def _apply_return_metric(job: _Job, key: str | None) -> None:
    """Sweepers such as Optuna want one number: return metrics[key] instead of the whole dict."""
    ret = job.ret
    if key is None or ret is None or ret.status is not JobStatus.COMPLETED:
        return
    value = ret._return_value
    if isinstance(value, Mapping) and key in value:
        ret.return_value = value[key]
        return
    known = ", ".join(sorted(map(str, value))) if isinstance(value, Mapping) else type(value).__name__
    ret.status = JobStatus.FAILED
    ret.return_value = JobFailedError(f"its result has no metric {key!r} (hydra.launcher.return_metric): {known}.")
    job.row.state, job.row.detail = "failed", str(ret._return_value)


def _read_result(path: Path) -> JobReturn | None:
    import cloudpickle

    try:
        with open(path, "rb") as handle:
            ret = cloudpickle.load(handle)
    except FileNotFoundError:
        return None
    return ret if isinstance(ret, JobReturn) else None


def _death(exitcode: int | None, job_dir: Path) -> str:
    if exitcode is not None and exitcode < 0:
        how = f"its process was killed by {signal.Signals(-exitcode).name}"
    else:
        how = f"its process exited with code {exitcode} before reporting a result"
    if not (job_dir / STDERR_LOG).exists():
        how += " (it died before its job started: see the launcher's own output above)"
    return how + "."


def _stop(process: Any) -> None:
    if process.is_alive():
        process.terminate()
        process.join(10)
    if process.is_alive():
        process.kill()
        process.join()


def _shown(overrides: Sequence[str]) -> str:
    return " ".join(filter_overrides(overrides)) or "(no overrides)"


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in _tail(path, 4096).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _tail(path: Path, size: int = 65536) -> str:
    """The end of a log file (a multi-GPU job's stderr.log holds every worker's traceback)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - size))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""
