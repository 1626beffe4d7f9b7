"""Ranking a sweep's finished jobs: which metric (and which direction) to rank by, the order, the best of
each method, and the headline metrics shown and plotted beside the chosen one.

The evaluations of the trained model (the `eval` group: win rate, MT-Bench, lm-eval tasks, exact match) are
what a sweep is run to compare, so the default metric is the first of those the jobs report; training
metrics (reward accuracy, losses) are the default only for a sweep without evaluations."""

from __future__ import annotations

import math
import re

from align.sweep.read import Job, ReportError, Sweep

# The evaluations' headline metrics, preferred in this order; `lm_eval/` stands for every lm-eval task metric
# (`lm_eval/<task>/<metric>`, in name order, without their standard errors).
EVAL_METRICS = (
    "win_rate",
    "mt_bench_score",
    "mt_bench_turn1",
    "mt_bench_turn2",
    "lm_eval/",
    "eval_exact_match",
    "eval_exact_match_extracted",
)
# The evaluation that writes each of them, for the error about a metric no job reports.
_EVAL_OPTION = {
    "win_rate": "win_rate",
    "mt_bench": "mt_bench",
    "lm_eval/": "lm_eval",
    "eval_exact_match": "exact_match",
}
# The default metric without evaluations: the first of these that a finished job reports.
PREFERRED_METRICS = ("eval_rewards/accuracies", "eval_loss", "train_loss")
# Shown in the markdown table and plotted besides the chosen metric, when present (after the evaluations').
HEADLINE_METRICS = ("eval_loss", "eval_rewards/accuracies", "eval_rewards/margins", "eval_exact_match", "train_loss")
# The turn means are parts of mt_bench_score: shown in results.csv, not plotted by default.
_NOT_HEADLINE = ("mt_bench_turn1", "mt_bench_turn2", "eval_exact_match_extracted")


def eval_metrics(names: list[str]) -> list[str]:
    """The evaluation metrics among `names`, in EVAL_METRICS' order of preference."""
    found = []
    for wanted in EVAL_METRICS:
        if wanted.endswith("/"):
            found += sorted(n for n in names if n.startswith(wanted) and "stderr" not in n)
        elif wanted in names:
            found.append(wanted)
    return found


def choose_metric(sweep: Sweep, metric: str | None) -> str:
    """`metric` when a finished job reports it; without one, the first evaluation metric the jobs report, else
    the first preferred metric. ReportError when there is nothing to rank or no job reports `metric`."""
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
        evaluated = eval_metrics(available)
        return evaluated[0] if evaluated else next((m for m in PREFERRED_METRICS if m in available), available[0])
    if metric not in available:
        from align.errors import did_you_mean

        hint = " ".join(filter(None, (did_you_mean(metric, available), _eval_hint(metric, available))))
        raise ReportError(
            f"Unknown metric {metric!r}: no finished job in {str(sweep.dir)!r} reports it.{' ' + hint if hint else ''} "
            f"Available metrics: {', '.join(available)}."
        )
    return metric


def _eval_hint(metric: str, available: list[str]) -> str:
    """For an evaluation's metric: which evaluation writes it, and the evaluation metrics the jobs do report."""
    option = next((o for prefix, o in _EVAL_OPTION.items() if metric.startswith(prefix)), None)
    if option is None:
        return ""
    evaluated = eval_metrics(available)
    reported = f"they report {', '.join(evaluated)}" if evaluated else "they report no evaluation metric"
    return f"{metric} is written by the {option} evaluation (run the jobs with eval={option}); {reported}."


def lower_is_better(metric: str) -> bool:
    """Losses, errors, perplexities and times go down when things get better; accuracies and rewards go up."""
    return bool(re.search(r"loss|error|perplexity|bits_per_byte|runtime|_s$", metric))


def ranked(sweep: Sweep, metric: str, minimize: bool) -> list[Job]:
    """Finished jobs, best first; jobs without the metric last."""

    def key(job: Job) -> tuple[bool, float]:
        value = job.value(metric)
        if value is None or math.isnan(value):
            return True, 0.0
        return False, value if minimize else -value

    return sorted(sweep.done, key=key)


def best_jobs(jobs: list[Job], metric: str) -> list[Job]:
    """The first job of each method in `jobs` (already ranked) that has the metric, in that order."""
    best: dict[str, Job] = {}
    for job in jobs:
        if job.value(metric) is not None:
            best.setdefault(job.method, job)
    return list(best.values())


def best_per_method(jobs: list[Job], metric: str) -> set[str]:
    """Names of the first job of each method in `jobs` (already ranked) that has the metric."""
    return {job.name for job in best_jobs(jobs, metric)}


def headline_metrics(sweep: Sweep, metric: str) -> list[str]:
    """The chosen metric, then the evaluations' and the headline metrics that the finished jobs report."""
    available = sweep.metric_names()
    shown = [m for m in eval_metrics(available) if m not in _NOT_HEADLINE]
    shown += [m for m in HEADLINE_METRICS if m in available]
    return list(dict.fromkeys([metric, *shown]))
