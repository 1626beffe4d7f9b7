"""One job from a composed config: prepare (validate once), then print the plan (dry_run), relaunch on several
processes, or run the method and write its metrics."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from align import tracking
from align.hardware.devices import is_main_process
from align.outputs import disk_errors, write_json
from align.run import resume
from align.run.prepare import Prepared, prepare
from align.run.record import print_summary, remove_if_empty


def run_job(cfg: DictConfig) -> dict[str, Any]:
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = list(hydra_cfg.overrides.task)
    try:
        prepared = prepare(cfg, run_dir, overrides)
        if cfg.dry_run:
            from align.plan.describe import describe

            print(describe(prepared, run_dir))
            return {}
    finally:
        remove_if_empty(run_dir)
    if prepared.hardware.needs_launch:
        from align.hardware.launch import launch

        launch(cfg.hardware, prepared.hardware, run_dir, overrides)
        return json.loads((run_dir / "metrics.json").read_text())
    from align.hardware.settings import single_process_rendezvous

    single_process_rendezvous(cfg.hardware)
    with disk_errors(run_dir):
        return _run_method(prepared, run_dir, hydra_cfg)


def _run_method(prepared: Prepared, run_dir: Path, hydra_cfg: Any) -> dict[str, Any]:
    """The method's own run (its module, or the TRL run), then metrics.json, the trackers and the summary line."""
    started = time.time()
    method, main = prepared.method, is_main_process()
    if method.module:
        run = method.own_module().run
    else:
        from align.run.train import train as run
    try:
        metrics = run(prepared, run_dir, hydra_cfg)
    except resume.Interrupted as stop:  # SIGTERM/SIGINT while training: a checkpoint was saved
        if main:
            sys.stderr.write(f"{stop}\n")
        raise SystemExit(stop.exit_code) from None
    except KeyboardInterrupt:  # Ctrl-C before or after the training loop
        if main:
            sys.stderr.write("align: interrupted; run the same command again to resume from the latest complete "
                             f"checkpoint in {run_dir / resume.CHECKPOINTS}, if any\n")
        raise SystemExit(128 + signal.SIGINT) from None
    metrics.update(method=prepared.cfg.method.name, runtime_s=round(time.time() - started, 2))
    if main:
        write_json(run_dir / "metrics.json", metrics)
        tracking.finish(prepared.cfg, run_dir, metrics)
        print_summary(run_dir, metrics)
    return metrics
