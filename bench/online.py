"""Online RL on the embedded default: GRPO with the verifiable exact_match reward against SFT for the same wall
time, both from the same SFT model.

The setting is the data-limited one (`--sft-problems`, default 300 labelled problems): SFT can only go on
training on those, while GRPO samples answers to fresh problems and learns from whether they are right, which is
what online RL with a verifier is for. Steps:

1. SFT of the tiny model on the labelled problems (the tiny default's tuning): the starting model.
2. GRPO from it (`method=grpo`, its tiny tuning plus `--grpo` overrides), timed by its training runtime.
3. The control: SFT from the same starting model on the same labelled problems for the same training wall time
   (its steps are the GRPO run's seconds times the SFT run's own steps per second), at the SFT stage's learning
   rate and at a tenth of it; the better one counts, the best a user without online RL gets from the same budget.
4. Held-out exact match (greedy, the whole test split, extracted answers) of the start, GRPO and the controls.

Last line: `gain over control +X.X points`. Figures and caveats: docs/performance.md.
Usage: python bench/online.py [--out DIR] [--sft-problems N] [--grpo OVERRIDE ...] [--control OVERRIDE ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runs import CONTROL_LOW_LR, align, held_out, metrics, train_seconds  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory for the run directories (default: a temp dir)")
    parser.add_argument("--sft-problems", type=int, default=300, help="labelled problems for SFT (default 300)")
    parser.add_argument("--grpo", nargs="*", default=[], metavar="OVERRIDE", help="extra GRPO overrides")
    parser.add_argument("--control", nargs="*", default=[], metavar="OVERRIDE", help="extra control overrides")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="align-online-"))
    sft, grpo, control, control_low_lr = (out / name for name in ("sft", "grpo", "control", "control_low_lr"))
    data = (f"data.num_train={args.sft_problems}", "data.num_exact_match=0")
    started = time.time()

    align(*data, f"hydra.run.dir={sft}")
    sft_rate = metrics(sft)["train_steps"] / train_seconds(sft)
    align("method=grpo", f"model.name_or_path={sft / 'model'}", *data, *args.grpo, f"hydra.run.dir={grpo}")
    grpo_metrics = metrics(grpo)
    budget = train_seconds(grpo)
    steps = max(1, round(budget * sft_rate))
    more_sft = (f"model.name_or_path={sft / 'model'}", *data, f"method.max_steps={steps}", "method.warmup_steps=0")
    align(*more_sft, *args.control, f"hydra.run.dir={control}")
    align(*more_sft, f"method.learning_rate={CONTROL_LOW_LR}", *args.control, f"hydra.run.dir={control_low_lr}")

    scores = {name: held_out(run / "model", sft)[1] for name, run in (
        ("start", sft), ("grpo", grpo), ("control", control), ("control lr/10", control_low_lr))}
    gain = 100 * (scores["grpo"] - max(scores["control"], scores["control lr/10"]))
    print(f"setting: {args.sft_problems} labelled problems for SFT; GRPO on fresh problems with the exact_match "
          f"reward ({grpo_metrics['train_steps']} steps, {budget:.0f} s of training); control: {steps} more SFT "
          f"steps on the labelled problems in the same time ({sft_rate:.2f} steps/s); the better control counts")
    print(f"GRPO reward {grpo_metrics['train_reward_start']:.3f} -> {grpo_metrics['train_reward_end']:.3f}")
    print("held-out exact match (extracted): " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in scores.items()))
    print(f"total {time.time() - started:.0f} s; runs in {out}")
    print(f"gain over control {gain:+.1f} points")


if __name__ == "__main__":
    main()
