"""`python -m align.report SWEEP_DIR [--metric NAME] [--goal min|max] [--no-wandb]`: a sweep's jobs as
results.csv, report.md and PNG plots in the sweep directory, and as a table in the sweep's W&B group.

Each job directory's `.hydra/overrides.yaml` and `metrics.json` give one row. A job directory without
metrics.json failed (or is still running); a job that the sweep's `multirun.yaml` asks for but that has
no directory is missing. Both are listed, so a partial sweep reports what it has. The jobs are ranked by
an evaluation's metric (win_rate, mt_bench_score, ...) when they report one, else by a training metric.
When the jobs logged to W&B, the results table joins them in their group. The work is in align/sweep/;
this is the command around it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from align.errors import AlignError
from align.sweep.rank import choose_metric, lower_is_better, ranked
from align.sweep.read import Job, Sweep, load_sweep
from align.sweep.write import best_setting_line, write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m align.report",
        description="Summarise a sweep: results.csv, report.md and PNG plots in the sweep directory, and the "
        "results as a table in the sweep's W&B group when its jobs logged to W&B.",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep's directory (its hydra.sweep.dir)")
    parser.add_argument(
        "--metric",
        help="metric to rank by (default: the first evaluation metric the jobs report, of win_rate, mt_bench_score, "
        "mt_bench_turn1, mt_bench_turn2, lm_eval/..., eval_exact_match, eval_exact_match_extracted; "
        "else eval_rewards/accuracies, else eval_loss)",
    )
    parser.add_argument(
        "--goal",
        choices=("min", "max"),
        help="whether lower or higher is better (default: min for losses, max otherwise)",
    )
    parser.add_argument(
        "--no-wandb",
        action="store_true",
        help="do not log the results table to the W&B group of jobs that ran with tracking=wandb",
    )
    args = parser.parse_args(argv)
    try:
        sweep = load_sweep(args.sweep_dir)
        metric = choose_metric(sweep, args.metric)
        minimize = lower_is_better(metric) if args.goal is None else args.goal == "min"
        written = write_report(sweep, metric, minimize)
        for path in written:
            print(f"align.report: wrote {path}")
        order = ranked(sweep, metric, minimize)
        best = best_setting_line(sweep, order, metric)
        if best:
            print(f"align.report: {best}")
        if not args.no_wandb:
            _log_to_wandb(sweep, metric, minimize, order, [p for p in written if p.suffix == ".png"])
    except AlignError as error:
        sys.stderr.write(f"align.report: error: {error}\n")
        return error.exit_code
    return 0


def _log_to_wandb(sweep: Sweep, metric: str, minimize: bool, order: list[Job], plots: list[Path]) -> None:
    """The results table into the sweep's W&B group, when its jobs logged there."""
    from align.sweep.wandb_table import log_results, wandb_target

    target = wandb_target(sweep)
    if target is None:
        return
    others = [job for job in sweep.jobs if job.status != "done"]
    said = log_results(sweep, target, metric, minimize, order + others, plots)
    if said:
        print(f"align.report: {said}")


if __name__ == "__main__":
    sys.exit(main())
