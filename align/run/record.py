"""The run directory's contract, written by the main process only and every file atomically:

    .hydra/            config.yaml (validated, secrets redacted), hydra.yaml, overrides.yaml
    run_info.json      seed, git commit, package versions, the command and how to rerun it, the resumed checkpoint
    align.log          every run's log lines, appended to by each run in the directory
    checkpoints/       complete checkpoints (run/resume.py)
    log_history.json   the trainer's logged values
    metrics.json       final metrics; model/ the trained model (run/trainer.py)

A run that stops before training begins (TRL rejects a setting, no row is left after tokenization) leaves the
directory as it found it: `nothing_new_on_error` removes what it added and the lines it wrote to
align.log.
"""

from __future__ import annotations

import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from align.hardware.devices import is_main_process
from align.outputs import write_json, write_text
from align.tracking.secrets import scrub, scrub_config, scrub_sweep_config

LOG_FILE = "align.log"
_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


@contextmanager
def nothing_new_on_error(run_dir: Path) -> Iterator[None]:
    """An error inside the block (a bad setting, a full disk, Ctrl-C) removes every file and directory the block
    added to `run_dir` and the lines it appended to an earlier align.log; earlier outputs stay as they were. (The
    run wraps everything before training in it.)"""
    existed = run_dir.is_dir()
    before = set(run_dir.iterdir()) if existed else set()
    log = run_dir / LOG_FILE
    log_size = log.stat().st_size if log.is_file() else None
    try:
        yield
    except BaseException:
        if is_main_process() and run_dir.is_dir():
            for path in set(run_dir.iterdir()) - before:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            if log_size is not None:
                os.truncate(log, log_size)
            if not existed:
                remove_if_empty(run_dir)
        raise


def log_to_file(run_dir: Path) -> None:
    """Every process appends its log records to align.log."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / LOG_FILE)
    handler.setFormatter(logging.Formatter(_FORMAT))
    logging.getLogger().addHandler(handler)


def record_run(run_dir: Path, cfg: DictConfig, hydra_cfg: Any, resumed: Path | None) -> None:
    """.hydra/ and run_info.json (main process only)."""
    if not is_main_process():
        return
    hydra_dir = run_dir / ".hydra"
    write_text(hydra_dir / "config.yaml", OmegaConf.to_yaml(scrub_config(cfg)))
    write_text(hydra_dir / "hydra.yaml", OmegaConf.to_yaml(scrub_config(OmegaConf.create({"hydra": hydra_cfg}))))
    write_text(hydra_dir / "overrides.yaml", OmegaConf.to_yaml(scrub_config(hydra_cfg.overrides.task)))
    info = _provenance(cfg, list(hydra_cfg.overrides.task), run_dir)
    info["resumed_from"] = str(resumed) if resumed else None
    write_json(run_dir / "run_info.json", scrub(info))
    scrub_sweep_config(hydra_cfg)


def remove_if_empty(run_dir: Path) -> None:
    """Hydra creates the run directory before the job starts; a run that wrote nothing leaves nothing."""
    try:
        run_dir.rmdir()
    except OSError:
        pass  # not empty (earlier outputs, or this run's own) or already gone


def print_summary(run_dir: Path, metrics: dict[str, Any]) -> None:
    shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items()))
    print(f"align: run directory: {run_dir}\nalign: metrics: {shown}", flush=True)


def _provenance(cfg: DictConfig, overrides: list[str], run_dir: Path) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("align", "torch", "transformers", "trl", "peft", "accelerate", "datasets"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "seed": cfg.method.seed,
        "git_commit": _git_commit(),
        "command": sys.argv,
        # this job alone (for a sweep job: its own overrides, not the sweep's)
        "overrides": overrides,
        "rerun": shlex.join(["python", "-m", "align", *overrides, f"hydra.run.dir={run_dir}"]),
        "host": platform.node(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _git_commit() -> str | None:
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None
