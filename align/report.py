"""`python -m align.report SWEEP_DIR [--metric NAME] [--goal min|max]`: a sweep's jobs as results.csv,
report.md and PNG plots in the sweep directory.

Each job directory's `.hydra/overrides.yaml` and `metrics.json` give one row. A job directory without
metrics.json failed (or is still running); a job that the sweep's `multirun.yaml` asks for but that has
no directory is missing. Both are listed, so a partial sweep reports what it has. The work is in
align/sweep/; this is the command around it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from align.errors import AlignError
from align.sweep.rank import choose_metric, lower_is_better
from align.sweep.read import load_sweep
from align.sweep.write import write_report


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
