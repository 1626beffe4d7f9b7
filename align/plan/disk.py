"""Disk for a run's checkpoints: one checkpoint's size from the model's config (the weights as saved plus the
optimizer state a resume needs), times how many of them `method.save_total_limit` keeps, against the free space
where the run directory is. The dry-run plan prints it; a real run warns before training when they will not fit.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointSpace:
    """What a run's checkpoints will take on disk, and whether that fits."""

    schedule: str  # when checkpoints are saved
    limit_note: str  # what decides how many are kept
    each: float  # bytes of one checkpoint
    kept: int | None  # how many are on disk at most; None when the number of steps is unknown
    free: int  # bytes free on the run directory's file system
    run_dir: Path

    @property
    def at_most(self) -> float | None:
        return None if self.kept is None else self.each * self.kept

    @property
    def fits(self) -> bool:
        return self.at_most is None or self.at_most <= self.free

    def describe(self) -> str:
        from align.plan.memory import readable_size

        if self.kept is None:
            kept = "how many are kept depends on the number of steps"
        else:
            kept = f"{self.kept} kept ({self.limit_note}), {readable_size(self.at_most)} at most"
        text = f"{self.schedule}; about {readable_size(self.each)} each; {kept}; {readable_size(self.free)} free on " \
               f"the disk of {self.run_dir}"
        if not self.fits:
            text += (" - NOT ENOUGH SPACE: lower method.save_total_limit, raise method.save_steps, or choose a "
                     "hydra.run.dir with more room")
        return text


def checkpoint_space(cfg: DictConfig, gpu: bool, arch: object, total_steps: int | None,
                     run_dir: Path) -> CheckpointSpace | None:
    """The checkpoints a run will keep, or None when it saves none (method.save_strategy=no)."""
    from align.plan.memory import checkpoint_bytes

    method = cfg.method
    strategy = str(method.get("save_strategy", "no"))  # methods that do not train (rejection sampling) have none
    if strategy == "no":
        return None
    limit = method.get("save_total_limit")
    saves = _number_of_saves(method, strategy, total_steps)
    kept = min(saves, limit) if saves is not None and limit else limit or saves
    free = free_space(run_dir)
    limit_note = f"method.save_total_limit={limit}" if limit else "all of them: method.save_total_limit=null"
    return CheckpointSpace(_schedule(method, strategy), limit_note, checkpoint_bytes(cfg, arch, gpu), kept, free,
                           run_dir)


def warn_if_too_big(prepared: Any, run_dir: Path) -> None:
    """Log a warning before training (main process) when the checkpoints this run keeps will not fit on its disk."""
    from align.hardware.devices import is_main_process
    from align.plan.describe import effective_batch, total_steps
    from align.plan.memory import architecture
    from align.plan.model_config import ConfigUnavailable, model_config

    cfg = prepared.cfg
    if not is_main_process() or cfg.method.get("save_strategy", "no") == "no":
        return
    try:
        config, _ = model_config(cfg.model)
        arch = architecture(config, cfg.peft, cfg.model.trust_remote_code)
    except (ConfigUnavailable, ValueError):
        return  # the model load that follows reports it
    steps = total_steps(cfg.method, prepared.train_rows, effective_batch(cfg.method, prepared.hardware.world_size))
    space = checkpoint_space(cfg, prepared.hardware.on_cuda, arch, steps, run_dir)
    if space is not None and not space.fits:
        log.warning("Checkpoints: %s", space.describe())


def free_space(run_dir: Path) -> int:
    """Free bytes on the file system of `run_dir`, measured at its nearest existing ancestor."""
    where = run_dir.expanduser().absolute()
    while not where.exists():
        where = where.parent
    return shutil.disk_usage(where).free


def _number_of_saves(method: DictConfig, strategy: str, total_steps: int | None) -> int | None:
    if total_steps is None:
        return None
    if strategy == "epoch":
        return max(1, math.ceil(method.num_train_epochs))
    every = int(method.save_steps) if method.save_steps >= 1 else math.ceil(method.save_steps * total_steps)
    return total_steps // every + (1 if total_steps % every else 0)  # and at the last step


def _schedule(method: DictConfig, strategy: str) -> str:
    if strategy == "epoch":
        return "every epoch"
    every = f"{method.save_steps:g} of the run" if method.save_steps < 1 else f"{method.save_steps:g} steps"
    return f"every {every} and at the end"
