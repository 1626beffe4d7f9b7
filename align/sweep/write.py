"""Writing a sweep's report into its directory: results.csv (every job, every metric), the PNG plots,
and report.md (the best setting of each method, the ranked table, the plots, the failed and missing jobs);
each file written atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any
from urllib.parse import quote

from align.outputs import write_text
from align.sweep.plots import plot, x_axis_key
from align.sweep.rank import best_jobs, best_per_method, eval_metrics, headline_metrics, ranked
from align.sweep.read import Job, Sweep, short_names

RESULTS_CSV = "results.csv"
REPORT_MD = "report.md"


def write_report(sweep: Sweep, metric: str, minimize: bool) -> list[Path]:
    """results.csv, the PNG plots and report.md in the sweep directory, in that order; returns their paths."""
    order = ranked(sweep, metric, minimize)
    others = [job for job in sweep.jobs if job.status != "done"]
    written = [write_csv(sweep, order + others, metric)]
    plots = [p for p in (plot(sweep, m, order) for m in headline_metrics(sweep, metric)) if p is not None]
    written += plots
    written.append(write_markdown(sweep, metric, minimize, order, others, plots))
    return written


def write_csv(sweep: Sweep, jobs: list[Job], metric: str) -> Path:
    """results.csv: `results_table`, a missing value as an empty cell."""
    header, table = results_table(sweep, jobs, metric)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(table)  # csv writes None as an empty cell
    path = sweep.dir / RESULTS_CSV
    write_text(path, buffer.getvalue())
    return path


def results_table(sweep: Sweep, jobs: list[Job], metric: str) -> tuple[list[str], list[list[Any]]]:
    """Header and one row per job: job, status, method, each swept key by its short name, the metric, the
    evaluation metrics, then the rest; None where a job lacks a value."""
    short = short_names(sweep.swept)
    names = sweep.metric_names()
    metrics = list(dict.fromkeys([metric, *eval_metrics(names), *names]))
    header = ["job", "status", "method", *(short[k] for k in sweep.swept), *metrics]
    rows = [
        [
            job.name,
            job.status,
            job.method,
            *(job.overrides.get(k) for k in sweep.swept),
            *(job.metrics.get(m) for m in metrics),
        ]
        for job in jobs
    ]
    return header, rows


def best_setting_line(sweep: Sweep, order: list[Job], metric: str) -> str | None:
    """'Best beta by win_rate: dpo beta=0.1 (0.62), ipo beta=0.5 (0.55).': the best job of each method (best
    method first) at the swept key the plots put on their x axis; None without such a key."""
    best = best_jobs(order, metric)
    key = x_axis_key(sweep, best) if best else None
    if key is None:
        return None
    short = short_names(sweep.swept)
    keys = [key, *(k for k in sweep.swept if k != key)]
    settings = [
        " ".join([job.method, *(f"{short[k]}={job.overrides[k]}" for k in keys if k in job.overrides)])
        + f" ({_fmt(job.metrics[metric])})"
        for job in best
    ]
    return f"Best {short[key]} by {metric}: {', '.join(settings)}."


def write_markdown(
    sweep: Sweep, metric: str, minimize: bool, order: list[Job], others: list[Job], plots: list[Path]
) -> Path:
    """report.md: the finished jobs in `order` (★ the best of each method), the plots, then `others`."""
    short = short_names(sweep.swept)
    shown = headline_metrics(sweep, metric)
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
    best_setting = best_setting_line(sweep, order, metric)
    if best_setting:
        lines += [best_setting, ""]
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


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(_escape(str(c)) for c in cells) + " |"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fmt(value: Any) -> str:
    if value is None or value == "":
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
