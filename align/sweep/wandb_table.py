"""The sweep's results in W&B: when its jobs logged to W&B (their tracking.json says where), one more run in their
project and group, job type `report`, holding results.csv as a `wandb.Table`, the best setting of each method and
the plots. The mode follows the jobs' rule (WANDB_MODE, else online with credentials, else offline)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from align.errors import EnvironmentProblem
from align.sweep.rank import best_jobs
from align.sweep.read import Job, Sweep, short_names
from align.sweep.write import best_setting_line, results_table

log = logging.getLogger(__name__)

REPORT_JOB_TYPE = "report"


@dataclass(frozen=True)
class WandbTarget:
    """The W&B project and group that the sweep's jobs logged to."""

    project: str
    entity: str | None
    group: str

    @property
    def run_id(self) -> str:
        """One report run per group: a rerun of the report continues it (a new version of the table)."""
        return "report-" + hashlib.sha1(f"{self.entity}/{self.project}/{self.group}".encode()).hexdigest()[:12]


def wandb_target(sweep: Sweep) -> WandbTarget | None:
    """Where the jobs logged to W&B, from the first job directory whose tracking.json names a W&B run; None when
    no job used tracking=wandb."""
    from align.tracking.wandb_run import TRACKING_FILE

    for job in [*sweep.done, *(job for job in sweep.jobs if job.status == "failed")]:
        try:
            state = json.loads((sweep.dir / job.name / TRACKING_FILE).read_text())
        except (OSError, ValueError):
            continue
        run = state.get("wandb") if isinstance(state, dict) else None
        if isinstance(run, dict) and run.get("project") and run.get("group"):
            return WandbTarget(str(run["project"]), run.get("entity"), str(run["group"]))
    return None


def log_results(
    sweep: Sweep, target: WandbTarget, metric: str, minimize: bool, jobs: list[Job], plots: list[Path]
) -> str | None:
    """Log the results table (`jobs`: ranked done jobs, then the others), the best job of each method and the
    plots to the report run of `target`; returns what to tell the user, or None when WANDB_MODE=disabled."""
    from align.tracking import secrets
    from align.tracking.wandb_run import init_or_offline, wandb_files_dir, wandb_mode

    mode = wandb_mode()
    if mode == "disabled":
        return None
    try:
        import wandb
    except ImportError:
        raise EnvironmentProblem(
            f"The jobs of {str(sweep.dir)!r} logged to W&B (group {target.group!r}) but wandb is not installed "
            "here, so the results table cannot join them: pip install wandb, or pass --no-wandb."
        ) from None
    header, rows = results_table(sweep, jobs, metric)
    files = wandb_files_dir(sweep.dir)
    config = {"sweep_dir": str(sweep.dir), "metric": metric, "goal": "min" if minimize else "max"}
    init = {"project": target.project, "entity": target.entity, "group": target.group, "job_type": REPORT_JOB_TYPE,
            "name": REPORT_JOB_TYPE, "id": target.run_id, "resume": "allow", "dir": str(files),
            "config": secrets.scrub(config)}
    mode = init_or_offline(mode, init, files)
    done = [job for job in jobs if job.status == "done"]
    logged: dict[str, Any] = {"results": wandb.Table(columns=header, data=secrets.scrub(rows), allow_mixed_types=True)}
    logged.update({f"plots/{path.stem}": wandb.Image(str(path)) for path in plots})
    wandb.run.log(logged)
    wandb.run.summary.update(secrets.scrub(_summary(sweep, done, metric)))
    run_id = wandb.run.id
    wandb.finish()
    where = f"offline; upload with: wandb sync {files / 'wandb'}/offline-run-*" if mode == "offline" else mode
    return f"results table in W&B run {run_id} (project {target.project}, group {target.group}; {where})"


def _summary(sweep: Sweep, done: list[Job], metric: str) -> dict[str, Any]:
    """The chosen metric, the best setting line, and per method its best job, value and swept settings."""
    short = short_names(sweep.swept)
    summary: dict[str, Any] = {"metric": metric, "best_setting": best_setting_line(sweep, done, metric) or ""}
    for job in best_jobs(done, metric):
        summary[f"best/{job.method}/{metric}"] = job.value(metric)
        summary[f"best/{job.method}/job"] = job.name
        summary.update({f"best/{job.method}/{short[k]}": job.overrides[k] for k in sweep.swept if k in job.overrides})
    return summary

