"""Inside a job's spawned process: its stdout and stderr go to the job's log files, Hydra's run_job runs the
task, and the JobReturn goes back to the parent through a file (never through a pipe the parent must drain)."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals

from ._returns import JobFailedError, job_return, one_line

STDOUT_LOG = "stdout.log"
STDERR_LOG = "stderr.log"


def execute_job(shared: bytes, job_config: bytes, result_path: str, job_dir: str, note: str = "") -> None:
    """Entry point of a spawned job process: logs to files, run_job, result to `result_path`.

    `note` is written first to stderr.log (which attempt this is, when the launcher runs a job again)."""
    Path(job_dir).mkdir(parents=True, exist_ok=True)
    _redirect(1, Path(job_dir) / STDOUT_LOG)
    _redirect(2, Path(job_dir) / STDERR_LOG)
    if note:
        print(note, file=sys.stderr, flush=True)

    import cloudpickle

    hydra_context, task_function, singleton_state = cloudpickle.loads(shared)
    setup_globals()
    Singleton.set_state(singleton_state)
    cfg = cloudpickle.loads(job_config)
    HydraConfig.instance().set_config(cfg)
    try:
        ret = run_job(
            hydra_context=hydra_context,
            task_function=task_function,
            config=cfg,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        if ret.status is JobStatus.FAILED:
            error = ret._return_value
            traceback.print_exception(type(error), error, error.__traceback__)
            ret.return_value = JobFailedError(f"{one_line(error)}.")
    except SystemExit as stop:  # the app's own "bad config, exit 2" path
        code = stop.code
        if not isinstance(code, int) and code is not None:  # sys.exit("message"): Python prints it, exits 1
            print(code, file=sys.stderr)
            code = 1
        if not code:
            ret = job_return(cfg, JobStatus.COMPLETED, None)
        else:
            ret = job_return(cfg, JobStatus.FAILED, JobFailedError(f"it exited with code {code}."))
    except Exception as error:  # failures around the task (saving configs, callbacks) still fail one job
        traceback.print_exc()
        ret = job_return(cfg, JobStatus.FAILED, JobFailedError(f"{one_line(error)}."))
    _write_result(ret, Path(result_path))


def _redirect(fd: int, path: Path) -> None:
    # At the file-descriptor level, so output of C extensions and subprocesses lands in the file too.
    (sys.stdout if fd == 1 else sys.stderr).flush()
    with open(path, "wb") as handle:
        os.dup2(handle.fileno(), fd)


def _write_result(ret: JobReturn, path: Path) -> None:
    import cloudpickle

    try:
        payload = cloudpickle.dumps(ret)
    except Exception as error:  # an unpicklable return value must not lose the job's status
        ret.return_value = (
            repr(ret._return_value)
            if ret.status is JobStatus.COMPLETED
            else JobFailedError(f"{ret._return_value} (its return value could not be pickled: {one_line(error)})")
        )
        payload = cloudpickle.dumps(ret)
    partial = path.with_suffix(".partial")
    partial.write_bytes(payload)
    os.replace(partial, path)
