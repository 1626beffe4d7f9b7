"""What the pool hands back to Hydra for a job: its JobReturn, shaped like run_job's also for jobs that
never (or not fully) went through run_job, and JobFailedError, a failure worded as one paragraph."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf, open_dict, read_write


class JobFailedError(CompactHydraException):
    """A job's return value when it failed; Hydra prints it as one paragraph when a sweeper raises it."""


@dataclass
class ReportedFailure(JobReturn):
    """A failed job's JobReturn once the pool's summary has shown it: reading its value raises the one-paragraph
    JobFailedError, without the "Error executing job with overrides" line Hydra's JobReturn writes first."""

    @property
    def return_value(self) -> Any:
        if self.status is JobStatus.COMPLETED:
            return self._return_value
        raise self._return_value

    @return_value.setter
    def return_value(self, value: Any) -> None:
        self._return_value = value


def job_return(cfg: DictConfig, status: JobStatus, value: Any) -> JobReturn:
    """A JobReturn shaped like run_job's, for jobs that did not (or not fully) go through run_job."""
    task_cfg = copy.deepcopy(cfg)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    directory = job_directory(cfg)
    return JobReturn(
        overrides=list(map(str, cfg.hydra.overrides.task)),
        cfg=task_cfg,
        hydra_cfg=OmegaConf.masked_copy(cfg, "hydra"),
        working_dir=str(directory) if cfg.hydra.job.chdir else os.getcwd(),
        task_name=str(cfg.hydra.job.name),
        status=status,
        _return_value=value,
    )


def job_directory(cfg: DictConfig) -> Path:
    """The job's directory: hydra.sweep.dir / hydra.sweep.subdir, resolved for this job."""
    # The subdir may use ${hydra:...}, which reads the HydraConfig singleton: point it at this job.
    previous = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(cfg)
    try:
        return Path(os.path.join(str(cfg.hydra.sweep.dir), str(cfg.hydra.sweep.subdir)))
    finally:
        HydraConfig.instance().cfg = previous


def one_line(error: BaseException) -> str:
    """`Type: message` on one line, for the summary and for JobFailedError."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
