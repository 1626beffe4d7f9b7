"""TensorBoard: the trainer writes scalars to <run dir>/tensorboard, and align the evaluations' after training; at
the end the job's overrides and final metrics go to TensorBoard's HParams table, where a sweep's jobs compare side
by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from align.tracking import secrets
from align.tracking.names import job_overrides, names_the_run

TENSORBOARD_DIR = "tensorboard"


def write_hparams(cfg: DictConfig, run_dir: Path, metrics: dict[str, Any]) -> None:
    """The job's overrides and final metrics in TensorBoard's HParams table, to compare a sweep's jobs."""
    from torch.utils.tensorboard import SummaryWriter

    from align.sweep.read import parse_override

    hparams: dict[str, Any] = {"method": cfg.method.name}
    for key, value in (parse_override(o) for o in job_overrides()):
        if names_the_run(key):
            hparams[key] = _scalar(secrets.scrub_text(value))
    final = {f"final/{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    with SummaryWriter(log_dir=str(run_dir / TENSORBOARD_DIR)) as writer:
        writer.add_hparams(hparams, final, run_name=".")


def write_scalars(run_dir: Path, scalars: dict[str, float], step: int) -> None:
    """Scalars at optimizer step `step`, beside the trainer's."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(log_dir=str(run_dir / TENSORBOARD_DIR)) as writer:
        for name, value in scalars.items():
            writer.add_scalar(name, value, step)


def _scalar(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text
