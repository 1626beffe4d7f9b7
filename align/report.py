"""`python -m align.report SWEEP_DIR [--metric NAME]`: a sweep's jobs as results.csv, report.md and PNG plots.

Each job directory's `.hydra/overrides.yaml` and `metrics.json` give one row. A job directory without
metrics.json failed (or is still running); a job that the sweep's `multirun.yaml` asks for but that has
no directory is missing. Both are listed, so a partial sweep reports what it has.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from align.errors import AlignError
from align.outputs import atomic_path, write_text

RESULTS_CSV = "results.csv"
REPORT_MD = "report.md"
# The default metric: the first of these that a finished job reports.
PREFERRED_METRICS = ("eval_rewards/accuracies", "eval_loss", "train_loss")
# Shown in the markdown table and plotted besides the chosen metric, when present.
HEADLINE_METRICS = ("eval_loss", "eval_rewards/accuracies", "eval_rewards/margins", "eval_exact_match", "train_loss")
# What makes a subdirectory of the sweep a job directory (align's files, or the pool launcher's logs).
_JOB_FILES = (".hydra", "metrics.json", "stdout.log", "stderr.log", "align.log")


class ReportError(AlignError):
    """The sweep directory cannot be reported: missing, without jobs, or without the asked-for metric."""


@dataclass
class Job:
    name: str  # the job directory's name; for a missing job, its overrides
    status: str  # done, failed or missing
    overrides: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    method: str = ""
    detail: str = ""

    def value(self, metric: str) -> float | None:
        value = self.metrics.get(metric)
        return float(value) if _is_number(value) else None


@dataclass
class Sweep:
    dir: Path
    jobs: list[Job]
    # Override keys that vary between jobs (the sweep's own first), without `method`.
    swept: list[str]

    @property
    def done(self) -> list[Job]:
        return [job for job in self.jobs if job.status == "done"]

    def metric_names(self) -> list[str]:
        names = {k for job in self.done for k, v in job.metrics.items() if _is_number(v)}
        return sorted(names)


# ------------------------------------------------------------------------------------ reading a sweep


def parse_override(text: str) -> tuple[str, str]:
    """`method.beta=0.1` -> ("method.beta", "0.1"); Hydra's +/++/~ prefixes are dropped from the key."""
    key, _, value = str(text).partition("=")
    return key.lstrip("+~"), value


def short_names(keys: Iterable[str]) -> dict[str, str]:
    """Each key's last dotted part (`method.beta` -> `beta`), or the whole key where two would clash."""
    keys = list(dict.fromkeys(keys))
    leaves = [key.rsplit(".", 1)[-1] for key in keys]
    return {key: leaf if leaves.count(leaf) == 1 else key for key, leaf in zip(keys, leaves, strict=True)}


def sweep_plan(sweep_dir: Path) -> tuple[list[str], list[list[str]] | None]:
    """From Hydra's multirun.yaml: the swept keys, and every job's overrides (None where unknown).

    Jobs can be listed only for Hydra's basic sweeper (a grid); other sweepers (Optuna) choose as they go.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return [], None
    # Unresolved: an override such as `method.hub_token=${oc.env:HF_TOKEN}` stays as written.
    hydra = OmegaConf.to_container(OmegaConf.load(path), resolve=False).get("hydra") or {}
    sweeper = hydra.get("sweeper") or {}
    params = sweeper.get("params") or {}
    lines = [f"{key}={value}" for key, value in params.items()]
    lines += [str(o) for o in (hydra.get("overrides") or {}).get("task") or []]
    try:
        overrides = OverridesParser.create().parse_overrides(lines)
    except HydraException:
        return [], None
    final = {override.get_key_element(): override for override in overrides}  # the command line wins
    swept = [key.lstrip("+~") for key, override in final.items() if override.is_sweep_override()]
    if not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return swept, None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    try:
        return swept, BasicSweeper.split_arguments(list(final.values()), None)[0]
    except HydraException:
        return swept, None


def load_sweep(sweep_dir: Path) -> Sweep:
    """Every job of the sweep in `sweep_dir`: done (metrics.json), failed, or missing (never started)."""
    if not sweep_dir.is_dir():
        raise ReportError(
            f"No sweep directory {str(sweep_dir)!r}. Pass the directory a sweep wrote, i.e. its hydra.sweep.dir "
            "(`python -m align -m ...` prints it as 'sweep output dir'; by default multirun/<date>/<time>)."
        )
    planned_keys, planned_jobs = sweep_plan(sweep_dir)
    dirs = sorted(
        d
        for d in sweep_dir.iterdir()
        if d.is_dir() and not d.name.startswith(".") and any((d / f).exists() for f in _JOB_FILES)
    )
    if not dirs:
        expected = f" Its multirun.yaml lists {len(planned_jobs)} job(s), none started." if planned_jobs else ""
        raise ReportError(
            f"{str(sweep_dir)!r} holds no job directories (subdirectories with .hydra/, metrics.json or "
            f"stdout.log).{expected} Pass the sweep directory itself (hydra.sweep.dir), not one job's directory."
        )
    jobs = [_read_job(d) for d in dirs]
    if planned_jobs is not None:
        jobs += _missing_jobs(jobs, planned_jobs)
    varying = [
        k
        for k in dict.fromkeys(k for job in jobs for k in job.overrides)
        if len({job.overrides.get(k) for job in jobs if job.overrides}) > 1
    ]
    swept = list(dict.fromkeys(planned_keys + varying))
    if not swept:  # one job, or a sweep of one value: show what the jobs set
        swept = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    return Sweep(sweep_dir, jobs, [k for k in swept if k != "method"])


def _read_job(job_dir: Path) -> Job:
    from omegaconf import OmegaConf

    job = Job(name=job_dir.name, status="failed")
    recorded = job_dir / ".hydra" / "overrides.yaml"
    if recorded.is_file():
        job.overrides = dict(parse_override(o) for o in OmegaConf.to_container(OmegaConf.load(recorded), resolve=False))
    try:
        metrics = json.loads((job_dir / "metrics.json").read_text())
    except FileNotFoundError:
        job.detail = _failure(job_dir)
    except (OSError, ValueError) as error:
        job.detail = f"unreadable metrics.json: {error}"
    else:
        if isinstance(metrics, dict):
            job.status, job.metrics = "done", metrics
        else:
            job.detail = "metrics.json does not hold a JSON object"
    job.method = str(job.metrics.get("method") or job.overrides.get("method") or _configured_method(job_dir))
    return job


def _configured_method(job_dir: Path) -> str:
    from omegaconf import OmegaConf

    config = job_dir / ".hydra" / "config.yaml"
    if not config.is_file():
        return ""
    method = OmegaConf.to_container(OmegaConf.load(config), resolve=False).get("method") or {}
    return str(method.get("name") or "")


def _failure(job_dir: Path) -> str:
    """Why a job has no metrics.json: the last line of its stderr.log (align's one-paragraph error)."""
    from align.tracking.secrets import scrub_text

    stderr = job_dir / "stderr.log"
    lines = [line.strip() for line in stderr.read_text(errors="replace").splitlines()] if stderr.is_file() else []
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith("align: error:")]
    last = (errors or lines or [""])[-1]
    if not last:
        return "no metrics.json (failed, interrupted or still running)"
    return scrub_text(last if len(last) <= 300 else last[:297] + "...")


def _missing_jobs(found: list[Job], planned: list[list[str]]) -> list[Job]:
    """Planned jobs that no directory accounts for (by its recorded overrides, else by its name)."""
    recorded = {_identity(job.overrides.items()) for job in found if job.overrides}
    unrecorded = {job.name: job for job in found if not job.overrides}
    missing = []
    for overrides in planned:
        pairs = [parse_override(o) for o in overrides]
        if _identity(pairs) in recorded:
            continue
        dirname = ",".join(sorted(overrides)).replace("/", "_")  # Hydra's override_dirname, made safe
        if dirname in unrecorded:
            job = unrecorded[dirname]
            job.overrides, job.method = dict(pairs), job.method or dict(pairs).get("method", "")
            continue
        missing.append(
            Job(
                name=" ".join(overrides),
                status="missing",
                overrides=dict(pairs),
                method=dict(pairs).get("method", ""),
                detail="not started (no directory)",
            )
        )
    return missing


def _identity(pairs: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    # Secrets are recorded redacted (align.secrets), so they cannot tell jobs apart.
    from align.tracking.secrets import is_secret_key

    return tuple(sorted(f"{k}={v}" for k, v in pairs if not is_secret_key(k)))


# ------------------------------------------------------------------------------------------ choosing


def choose_metric(sweep: Sweep, metric: str | None) -> str:
    available = sweep.metric_names()
    if not sweep.done:
        failed = "; ".join(f"{job.name}: {job.detail}" for job in sweep.jobs[:5])
        raise ReportError(
            f"None of the {len(sweep.jobs)} job(s) in {str(sweep.dir)!r} has finished (no metrics.json), so "
            f"there is nothing to compare yet. {failed}{' ...' if len(sweep.jobs) > 5 else ''}"
        )
    if not available:
        raise ReportError(f"The finished jobs in {str(sweep.dir)!r} report no numeric metrics in metrics.json.")
    if metric is None:
        return next((m for m in PREFERRED_METRICS if m in available), available[0])
    if metric not in available:
        from align.config import closest

        near = closest(metric, available)
        hint = f" Did you mean {' or '.join(near)}?" if near else ""
        raise ReportError(
            f"Unknown metric {metric!r}: no finished job in {str(sweep.dir)!r} reports it.{hint} "
            f"Available metrics: {', '.join(available)}."
        )
    return metric


def lower_is_better(metric: str) -> bool:
    """Losses, errors, perplexities and times go down when things get better; accuracies and rewards go up."""
    return bool(re.search(r"loss|error|perplexity|runtime|_s$", metric))


def ranked(sweep: Sweep, metric: str, minimize: bool) -> list[Job]:
    """Finished jobs, best first; jobs without the metric last."""

    def key(job: Job) -> tuple[bool, float]:
        value = job.value(metric)
        if value is None or math.isnan(value):
            return True, 0.0
        return False, value if minimize else -value

    return sorted(sweep.done, key=key)


def best_per_method(jobs: list[Job], metric: str) -> set[str]:
    """Names of the first job of each method in `jobs` (already ranked) that has the metric."""
    best: dict[str, str] = {}
    for job in jobs:
        if job.value(metric) is not None:
            best.setdefault(job.method, job.name)
    return set(best.values())


# ------------------------------------------------------------------------------------------- writing


def write_report(sweep: Sweep, metric: str, minimize: bool) -> list[Path]:
    """results.csv, the PNG plots and report.md in the sweep directory, each written atomically."""
    order = ranked(sweep, metric, minimize)
    others = [job for job in sweep.jobs if job.status != "done"]
    written = [_write_csv(sweep, order + others, metric)]
    plots = [_plot(sweep, m, order) for m in _plotted_metrics(sweep, metric)]
    written += [p for p in plots if p is not None]
    written.append(_write_markdown(sweep, metric, minimize, order, others, [p for p in plots if p is not None]))
    return written


def _metric_columns(sweep: Sweep, metric: str) -> list[str]:
    return [metric] + [m for m in sweep.metric_names() if m != metric]


def _write_csv(sweep: Sweep, jobs: list[Job], metric: str) -> Path:
    short = short_names(sweep.swept)
    metrics = _metric_columns(sweep, metric)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["job", "status", "method", *(short[k] for k in sweep.swept), *metrics])
    for job in jobs:
        writer.writerow(
            [
                job.name,
                job.status,
                job.method,
                *(job.overrides.get(k, "") for k in sweep.swept),
                *(job.metrics.get(m, "") for m in metrics),
            ]
        )
    path = sweep.dir / RESULTS_CSV
    write_text(path, buffer.getvalue())
    return path


def _write_markdown(
    sweep: Sweep, metric: str, minimize: bool, order: list[Job], others: list[Job], plots: list[Path]
) -> Path:
    short = short_names(sweep.swept)
    shown = [metric] + [m for m in HEADLINE_METRICS if m != metric and m in sweep.metric_names()]
    best = best_per_method(order, metric)
    failed = sum(job.status == "failed" for job in others)
    lines = [
        f"# Sweep report: `{sweep.dir.name}`",
        "",
        f"Metric: **{metric}** ({'lower' if minimize else 'higher'} is better). "
        f"{len(order)} job(s) done, {failed} failed, {len(others) - failed} missing. "
        f"Sweep directory: `{sweep.dir}`.",
        "",
    ]
    if order and order[0].value(metric) is not None:
        top = order[0]
        setting = ", ".join(f"{short[k]}={top.overrides[k]}" for k in sweep.swept if k in top.overrides)
        lines += [f"Best: **{top.method}** {setting} with {metric} = {_fmt(top.metrics[metric])}.", ""]
    header = ["rank", "method", *(short[k] for k in sweep.swept), *shown, "job"]
    lines += [_row(header), _row(["---:", "---", *("---" for _ in sweep.swept), *("---:" for _ in shown), "---"])]
    for rank, job in enumerate(order, 1):
        cells = [
            f"{rank} ★" if job.name in best else str(rank),
            job.method,
            *(job.overrides.get(k, "") for k in sweep.swept),
        ]
        cells += [f"**{_fmt(job.metrics.get(m))}**" if m == metric else _fmt(job.metrics.get(m)) for m in shown]
        cells.append(f"[`{job.name}`]({quote(job.name, safe='=,')}/metrics.json)")
        lines.append(_row(cells))
    lines += ["", "★ best of its method.", ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({quote(p.name)})" for p in plots] + [""]
    if others:
        lines += ["## Failed or missing jobs", ""]
        for job in others:
            where = f"[`{job.name}`]({quote(job.name, safe='=,')}/)" if job.status == "failed" else f"`{job.name}`"
            lines.append(f"- {job.status}: {where}: {_escape(job.detail)}")
        lines.append("")
    lines += [
        f"All jobs and metrics: [{RESULTS_CSV}]({RESULTS_CSV}). "
        f"Regenerate with `python -m align.report {sweep.dir} --metric {metric}`.",
        "",
    ]
    path = sweep.dir / REPORT_MD
    write_text(path, "\n".join(lines))
    return path


def _plotted_metrics(sweep: Sweep, metric: str) -> list[str]:
    available = sweep.metric_names()
    return [metric] + [m for m in HEADLINE_METRICS if m != metric and m in available]


def _x_key(sweep: Sweep, jobs: list[Job]) -> str | None:
    """The swept key on the x axis: beta when swept, else the first swept key whose values are numbers."""
    numeric = [k for k in sweep.swept if all(_is_number(_number(job.overrides.get(k))) for job in jobs)]
    return next((k for k in numeric if k.rsplit(".", 1)[-1] == "beta"), numeric[0] if numeric else None)


def _plot(sweep: Sweep, metric: str, jobs: list[Job]) -> Path | None:
    """metric vs the x key, one line per method (and per value of any other swept key); bars without one."""
    jobs = [job for job in jobs if job.value(metric) is not None]
    if not jobs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    short = short_names(sweep.swept)
    x_key = _x_key(sweep, jobs)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if x_key is None:
        labels = [_label(job, sweep.swept, short) for job in jobs]
        ax.bar(range(len(jobs)), [job.value(metric) for job in jobs])
        ax.set_xticks(range(len(jobs)), labels, rotation=30, ha="right", fontsize="small")
        name = f"{_safe(metric)}_by_job.png"
    else:
        lines: dict[str, list[tuple[float, float]]] = {}
        rest = [k for k in sweep.swept if k != x_key]
        for job in jobs:
            lines.setdefault(_label(job, rest, short), []).append((_number(job.overrides[x_key]), job.value(metric)))
        for label, points in sorted(lines.items()):
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        xs = [x for points in lines.values() for x, _ in points]
        if min(xs) > 0 and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
        ax.set_xlabel(short[x_key])
        ax.legend(fontsize="small")
        name = f"{_safe(metric)}_vs_{_safe(short[x_key])}.png"
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs {short[x_key]}" if x_key else metric)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = sweep.dir / name
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def _label(job: Job, keys: list[str], short: dict[str, str]) -> str:
    return " ".join([job.method, *(f"{short[k]}={job.overrides[k]}" for k in keys if k in job.overrides)])


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(_escape(str(c)) for c in cells) + " |"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fmt(value: Any) -> str:
    if value is None or value == "":
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _number(text: Any) -> Any:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


# ----------------------------------------------------------------------------------------- command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m align.report",
        description="Summarise a sweep: results.csv, report.md and PNG plots in the sweep directory.",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep's directory (its hydra.sweep.dir)")
    parser.add_argument("--metric", help="metric to rank by (default: eval_rewards/accuracies, else eval_loss)")
    parser.add_argument(
        "--goal",
        choices=("min", "max"),
        help="whether lower or higher is better (default: min for losses, max otherwise)",
    )
    args = parser.parse_args(argv)
    try:
        sweep = load_sweep(args.sweep_dir)
        metric = choose_metric(sweep, args.metric)
        minimize = lower_is_better(metric) if args.goal is None else args.goal == "min"
        written = write_report(sweep, metric, minimize)
    except AlignError as error:
        sys.stderr.write(f"align.report: error: {error}\n")
        return error.exit_code
    for path in written:
        print(f"align.report: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
