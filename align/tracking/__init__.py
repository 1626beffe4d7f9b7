"""Experiment tracking: W&B and TensorBoard through the trainer's `report_to`, one W&B group per sweep.

The run function calls `trainer_settings` (TrainingArguments values, no side effects), `start` once the trainer
exists (the W&B run, TensorBoard's directory), `log_metrics` with the evaluations' metrics after training (scalars
under eval/ at the last step) and `finish` with the final metrics (W&B summary, HParams table).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from align.hardware.devices import is_main_process


def trainer_settings(cfg: DictConfig) -> dict[str, Any]:
    """TrainingArguments values for the configured tracking (report_to, run_name) and for the Hub token."""
    from align.tracking.names import run_name

    # The trainer pickles its arguments into model/training_args.bin: hand it no token (run/hub.py moves it).
    settings: dict[str, Any] = {"hub_token": None} if cfg.method.get("hub_token") else {}
    backends = list(cfg.tracking.backends)
    if not backends:
        return {**settings, "report_to": "none"}
    return {**settings, "report_to": backends, "run_name": run_name(cfg)}


def start(cfg: DictConfig, run_dir: Path) -> None:
    """Point TensorBoard at <run dir>/tensorboard and start (or continue) the W&B run, on the main process."""
    backends = list(cfg.tracking.backends)
    if "tensorboard" in backends:
        from align.tracking.tensorboard import TENSORBOARD_DIR

        # transformers 5 takes the TensorBoard directory from the environment only.
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / TENSORBOARD_DIR)
    if "wandb" in backends and is_main_process():
        from align.tracking.wandb_run import start_wandb

        start_wandb(cfg, run_dir)


def log_metrics(cfg: DictConfig, run_dir: Path, metrics: dict[str, Any], step: int) -> None:
    """Numeric `metrics` as scalars named eval/<name> at optimizer step `step`, on the main process."""
    backends = list(cfg.tracking.backends)
    scalars = {f"eval/{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if not is_main_process() or not scalars:
        return
    if "wandb" in backends:
        import wandb

        from align.tracking.wandb_run import start_wandb

        start_wandb(cfg, run_dir)
        wandb.log({**scalars, "train/global_step": step})  # the trainer's step axis (WandbCallback's define_metric)
    if "tensorboard" in backends:
        from align.tracking.tensorboard import write_scalars

        write_scalars(run_dir, scalars, step)


def finish(cfg: DictConfig, run_dir: Path, metrics: dict[str, Any]) -> None:
    """Final metrics into the W&B summary (and TensorBoard's HParams table); close the W&B run."""
    backends = list(cfg.tracking.backends)
    if not is_main_process():
        return
    if "wandb" in backends:
        import wandb

        from align.tracking import secrets
        from align.tracking.wandb_run import start_wandb

        start_wandb(cfg, run_dir)  # a method without a TRL trainer started none
        wandb.run.summary.update(secrets.scrub(metrics))
        wandb.finish()
    if "tensorboard" in backends:
        from align.tracking.tensorboard import write_hparams

        write_hparams(cfg, run_dir, metrics)
