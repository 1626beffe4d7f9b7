"""Ranking a sweep's finished jobs: which metric (and which direction) to rank by, the order, the best of
each method, and the headline metrics shown and plotted beside the chosen one."""

from __future__ import annotations

import math
import re

from align.sweep.read import Job, ReportError, Sweep

# The default metric: the first of these that a finished job reports.
PREFERRED_METRICS = ("eval_rewards/accuracies", "eval_loss", "train_loss")
# Shown in the markdown table and plotted besides the chosen metric, when present.
HEADLINE_METRICS = ("eval_loss", "eval_rewards/accuracies", "eval_rewards/margins", "eval_exact_match", "train_loss")


def choose_metric(sweep: Sweep, metric: str | None) -> str:
    """`metric` when a finished job reports it, else the first preferred metric; ReportError otherwise."""
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
        from align.errors import closest

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


def headline_metrics(sweep: Sweep, metric: str) -> list[str]:
    """The chosen metric, then the headline metrics that the finished jobs report."""
    available = sweep.metric_names()
    return [metric] + [m for m in HEADLINE_METRICS if m != metric and m in available]
