"""One run from a composed config: validate, then print a plan (dry_run) or train and fill the run directory.

Run directory contract: `.hydra/` (config, hydra, overrides), `run_info.json` (seed, git commit,
versions, command), `align.log` (appended to by every run in the directory), `checkpoints/`, `metrics.json`
and `model/` (every file written atomically, main process only). A run started again in the same directory
continues from its latest complete checkpoint (`resume`, align/resume.py).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from align import resume, tracking
from align.checkpoint_space import warn_if_too_big
from align.config import validate
from align.errors import AlignError
from align.outputs import disk_errors, write_json, write_text
from align.tracking.secrets import scrub, scrub_config, scrub_sweep_config

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, Any]:
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        validate(cfg)
        from align.methods import get_method

        method = get_method(cfg.method.trainer)
        if cfg.dry_run:
            from align.plan import describe

            print(describe(cfg, method.DATA_KIND, run_dir))
            return {}
        from align.data import load_for_method

        # rows are read and converted (and cached by `datasets`) before anything is written: a bad row or
        # data of the wrong kind for the method stops the run here, leaving earlier outputs as they were
        train_rows = len(load_for_method(cfg.data, method.DATA_KIND, cfg.method.name)["train"])
        resumed = resume.checkpoint_to_resume(cfg, run_dir)  # checkpoints of another run: stop before writing
    except AlignError:
        raise
    finally:
        _remove_if_empty(run_dir)
    from align import hardware

    if hardware.needs_launch(cfg.hardware):
        hardware.launch(cfg.hardware, run_dir, list(hydra_cfg.overrides.task))
        return json.loads((run_dir / "metrics.json").read_text())
    hardware.single_process_rendezvous(cfg.hardware)
    if int(os.environ.get("RANK", "0")) == 0:
        warn_if_too_big(cfg, run_dir, train_rows)
    with disk_errors(run_dir):
        return _train(cfg, run_dir, hydra_cfg, method, resumed)


def _train(cfg: DictConfig, run_dir: Path, hydra_cfg: Any, method: Any, resumed: Path | None) -> dict[str, Any]:
    started = time.time()
    is_main = int(os.environ.get("RANK", "0")) == 0
    if is_main:
        _record_run(run_dir, cfg, hydra_cfg, resumed)
    _log_to_file(run_dir / "align.log")
    from align.training import Run

    try:
        metrics = method.train(Run(cfg, run_dir))
    except resume.Interrupted as stop:  # SIGTERM/SIGINT while training: a checkpoint was saved
        if is_main:
            sys.stderr.write(f"{stop}\n")
        raise SystemExit(stop.exit_code) from None
    except KeyboardInterrupt:  # Ctrl-C before or after the training loop
        if is_main:
            sys.stderr.write("align: interrupted; run the same command again to resume from the latest complete "
                             f"checkpoint in {run_dir / resume.CHECKPOINTS}, if any\n")
        raise SystemExit(128 + signal.SIGINT) from None
    metrics.update(method=cfg.method.name, runtime_s=round(time.time() - started, 2))
    if is_main:
        write_json(run_dir / "metrics.json", metrics)
        tracking.finish(cfg, run_dir, metrics)
        _print_summary(run_dir, metrics)
    return metrics


def _remove_if_empty(run_dir: Path) -> None:
    """Hydra creates the run directory before the job starts; a run that wrote nothing leaves nothing."""
    try:
        run_dir.rmdir()
    except OSError:
        pass  # not empty (earlier outputs, or this run's own) or already gone


def _record_run(run_dir: Path, cfg: DictConfig, hydra_cfg: Any, resumed: Path | None) -> None:
    hydra_dir = run_dir / ".hydra"
    write_text(hydra_dir / "config.yaml", OmegaConf.to_yaml(scrub_config(cfg)))
    write_text(hydra_dir / "hydra.yaml", OmegaConf.to_yaml(scrub_config(OmegaConf.create({"hydra": hydra_cfg}))))
    write_text(hydra_dir / "overrides.yaml", OmegaConf.to_yaml(scrub_config(hydra_cfg.overrides.task)))
    info = _provenance(cfg, list(hydra_cfg.overrides.task), run_dir)
    info["resumed_from"] = str(resumed) if resumed else None
    write_json(run_dir / "run_info.json", scrub(info))
    scrub_sweep_config(hydra_cfg)


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
    repo = Path(__file__).resolve().parent.parent
    if not (repo / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _log_to_file(path: Path) -> None:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logging.getLogger().addHandler(handler)


def _print_summary(run_dir: Path, metrics: dict[str, Any]) -> None:
    shown = " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items())
    )
    print(f"align: run directory: {run_dir}\nalign: metrics: {shown}", flush=True)
