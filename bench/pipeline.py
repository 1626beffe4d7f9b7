"""The handbook pipeline on the embedded default: SFT -> rejection sampling -> DPO, as the README's commands,
against more SFT given the same budget.

Runs the three `python -m align` commands (DPO with the RPO loss: sigmoid + NLL on the chosen answer), then two
controls from the same SFT model, each given as many optimizer steps as the DPO stage took:
- the SFT control: more SFT on the same labelled problems, at the SFT tuning's learning rate and at a tenth of it,
  the better counting (what a user without the pipeline gets from the steps);
- SFT on the verified samples: SFT on the chosen answers that rejection sampling kept (printed beside it).
Each model is scored by held-out exact match (greedy answers to problems no stage trained or sampled on).

The setting is data-limited (`--sft-problems`, default 300 labelled problems): SFT can only repeat those, while
rejection sampling labels fresh problems with the verifier, which is what it is for. Last line:
`gain over SFT control +X.X points`. Figures: docs/performance.md.
Usage: python bench/pipeline.py [--out DIR] [--sft-problems N] [--sft OVERRIDE ...] [--rs ...] [--dpo ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runs import CONTROL_LOW_LR, align, held_out, metrics  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory for the run directories (default: a temp dir)")
    parser.add_argument("--sft-problems", type=int, default=300,
                        help="labelled problems for SFT and the SFT control (default 300; the tiny default has 2000)")
    for stage in ("sft", "rs", "dpo"):
        parser.add_argument(f"--{stage}", nargs="*", default=[], metavar="OVERRIDE", help=f"extra {stage} overrides")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="align-pipeline-"))
    sft, rs, dpo, control, control_low_lr, verified = (
        out / name for name in ("sft", "rs", "dpo", "control", "control_low_lr", "sft_verified"))
    sft_args = (f"data.num_train={args.sft_problems}", *args.sft)
    started = time.time()
    times = {
        "sft": align(*sft_args, f"hydra.run.dir={sft}"),
        "rejection sampling": align(
            "method=rejection_sampling", f"model.name_or_path={sft / 'model'}", f"hydra.run.dir={rs}", *args.rs
        ),
        "dpo (rpo loss)": align(
            "method=rpo", "data=file", f"data.path={rs / 'samples.jsonl'}", f"model.name_or_path={sft / 'model'}",
            f"hydra.run.dir={dpo}", *args.dpo,
        ),
    }
    pipeline_seconds = time.time() - started
    steps = metrics(dpo)["train_steps"]
    more = (f"model.name_or_path={sft / 'model'}", f"method.max_steps={steps}", "method.warmup_steps=0")
    times["sft control"] = align(*sft_args, *more, f"hydra.run.dir={control}")
    times["sft control lr/10"] = align(*sft_args, *more, f"method.learning_rate={CONTROL_LOW_LR}",
                                       f"hydra.run.dir={control_low_lr}")
    times["sft on verified"] = align("data=file", f"data.path={rs / 'samples.jsonl'}", *args.sft, *more,
                                     f"hydra.run.dir={verified}")
    sampling = metrics(rs)
    scores = {name: 100 * held_out(run / "model", sft)[0]
              for name, run in (("SFT", sft), ("DPO", dpo), ("SFT control", control),
                                ("SFT control lr/10", control_low_lr), ("SFT on verified", verified))}
    best_control = max(scores["SFT control"], scores["SFT control lr/10"])
    num_held_out = OmegaConf.load(sft / ".hydra" / "config.yaml").data.num_test
    print(f"run directories: {out}")
    print(f"setting: {args.sft_problems} labelled problems for SFT; the DPO stage and the controls take {steps} "
          "optimizer steps from the same SFT model; the better SFT control counts")
    for stage, seconds in times.items():
        print(f"{stage:<20} {seconds:6.1f} s")
    print(f"rejection sampling:  pass@1 {100 * sampling['mean_score']:.1f}%, pass@{sampling['num_samples']} "
          f"{100 * sampling['mean_best_score']:.1f}%, {sampling['num_pairs']} pairs from {sampling['num_prompts']} "
          "prompts")
    print(f"held-out exact match ({num_held_out} problems): " + ", ".join(f"{k} {v:.1f}%" for k, v in scores.items()))
    print(f"whole pipeline       {pipeline_seconds:6.1f} s; gain over the SFT model "
          f"{scores['DPO'] - scores['SFT']:+.1f} points, over SFT on the verified samples "
          f"{scores['DPO'] - scores['SFT on verified']:+.1f} points")
    print(f"gain over SFT control {scores['DPO'] - best_control:+.1f} points")


if __name__ == "__main__":
    main()
