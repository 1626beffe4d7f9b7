"""Where more SFT stops helping the tiny model: the step count that conf/tune/tiny/sft.yaml should train to.

For each step count N (--steps), SFT of the embedded default on --sft-problems labelled problems (the setting of
bench/pipeline.py) with the tuning's other values, then the control that bench/pipeline.py gives the DPO stage: the
same model given --more steps of SFT at the same learning rate. Each is scored by held-out exact match (1000
problems no run trained on). Last line: the first N from which more SFT stops helping: neither its --more extra
steps nor any longer run of the scan gains --tolerance points or more over it.
Usage: python bench/sft_steps.py [--steps 400 800 ...] [--more 200] [--sft-problems 300] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runs import align, held_out  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[400, 800, 1200, 1600, 2400])
    parser.add_argument("--more", type=int, default=200, help="extra SFT steps of the control (pipeline: DPO's)")
    parser.add_argument("--sft-problems", type=int, default=300)
    parser.add_argument("--tolerance", type=float, default=2.0, help="points of gain that count as no gain")
    parser.add_argument("--out", type=Path, help="directory for the run directories (default: a temp dir)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="align-sft-steps-"))
    data = f"data.num_train={args.sft_problems}"
    scores: dict[int, tuple[float, float]] = {}
    for steps in args.steps:
        sft, more = out / f"sft_{steps}", out / f"sft_{steps}_more"
        seconds = align(data, f"method.max_steps={steps}", f"hydra.run.dir={sft}")
        align(data, f"model.name_or_path={sft / 'model'}", f"method.max_steps={args.more}", "method.warmup_steps=0",
              f"hydra.run.dir={more}")
        before, after = (100 * held_out(run / "model", sft)[0] for run in (sft, more))
        print(f"{steps:5d} steps ({seconds:5.0f} s): {before:5.1f}%; {args.more} more steps: {after:5.1f}% "
              f"({after - before:+.1f})", flush=True)
        scores[steps] = before, after
    plateau = next((steps for steps, (before, after) in scores.items()
                    if max([after, *(later for n, (later, _) in scores.items() if n > steps)]) - before
                    < args.tolerance), None)
    print(f"run directories: {out}")
    print(f"more SFT stops helping at {plateau} steps" if plateau else
          f"more SFT still helps at {args.steps[-1]} steps")


if __name__ == "__main__":
    main()
