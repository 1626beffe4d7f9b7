"""A sweep's PNG plots: one metric against the swept beta (or the first numeric swept key), one line per
method; bars per job when no swept key is numeric; a win rate has its tie with the baseline (0.5) drawn.
matplotlib is imported only here, when plotting, with its file-only backend (no display needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from align.outputs import atomic_path
from align.sweep.read import Job, Sweep, is_number, short_names

# Values drawn as a dashed line on a metric's plot: a win rate of 0.5 ties with the baseline.
_REFERENCE_LINES = {"win_rate": (0.5, "tie with the baseline")}


def plot(sweep: Sweep, metric: str, jobs: list[Job]) -> Path | None:
    """<metric>_vs_<key>.png (or <metric>_by_job.png) in the sweep directory; None when no job has the metric."""
    jobs = [job for job in jobs if job.value(metric) is not None]
    if not jobs:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster node; files only
    import matplotlib.pyplot as plt

    short = short_names(sweep.swept)
    x_key = x_axis_key(sweep, jobs)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if metric in _REFERENCE_LINES:
        value, label = _REFERENCE_LINES[metric]
        ax.axhline(value, linestyle="--", color="grey", linewidth=1, label=label)
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


def x_axis_key(sweep: Sweep, jobs: list[Job]) -> str | None:
    """The swept key on the x axis: beta when swept, else the first swept key whose values are numbers."""
    numeric = [k for k in sweep.swept if all(is_number(_number(job.overrides.get(k))) for job in jobs)]
    return next((k for k in numeric if k.rsplit(".", 1)[-1] == "beta"), numeric[0] if numeric else None)


def _label(job: Job, keys: list[str], short: dict[str, str]) -> str:
    return " ".join([job.method, *(f"{short[k]}={job.overrides[k]}" for k in keys if k in job.overrides)])


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
