"""`hydra/launcher=pool`: run a multirun's jobs in parallel on one node, each on its own GPUs or CPU slot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


class PoolLauncher(Launcher):
    """Queues jobs until devices are free, isolates failures, skips jobs with a complete result.

    Settings are `PoolLauncherConf` in config.py; the work is in _core.py.
    """

    def __init__(self, **settings: Any) -> None:
        self.settings = OmegaConf.create(settings)
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from . import _core

        return _core.launch(launcher=self, job_overrides=job_overrides, initial_job_idx=initial_job_idx)
