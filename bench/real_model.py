"""The quality comparison from a real pretrained chat model: SmolLM2-135M-Instruct (its GGUF file from the package
registry, bench/real_model_fixture.py) on the embedded arithmetic task, each stage against its control.

Stages, all `python -m align` runs on the 2-digit addition default, at CPU-sized budgets:
1. the model as it comes: greedy answers to the held-out problems ("23 + 19 = 32."), strict and extracted;
2. SFT from it on labelled problems (control: the model as it comes);
3. rejection sampling from the SFT model on fresh problems (extracted exact match), then preference training on
   its pairs: RPO (sigmoid DPO + NLL on the chosen answer) and plain sigmoid DPO;
4. GRPO from the SFT model with the `exact_match` reward on fresh problems.
Stages 3 and 4 each take `--steps` optimizer steps from the SFT model; their control is the SFT model given the
same number of extra SFT steps on the labelled problems, at the SFT stage's learning rate and at the later stages'
one, whichever scores better (the best a user gets from the steps without them).
Held-out exact match is extracted (the last number, GSM8K-style), strict beside it.

Last line: `best stage: NAME, gain over its control +X.X points`. Figures and caveats: docs/performance.md.
Usage: python bench/real_model.py [--out DIR] [--sft-steps N] [--steps N] [--held-out N] [--lr-pref LR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_model_fixture import Unavailable, smollm2, smollm2_converted  # noqa: E402
from runs import align, held_out, metrics  # noqa: E402

# Every stage's data: a few hundred labelled problems (the runs read batch x steps of them) and a held-out split
# scored by the bench itself (no in-run exact match).
DATA = ("data.num_train=400", "data.num_exact_match=0")
# Every trainer: no in-run evaluation or checkpoints (the bench scores the saved models), a log line every step.
TRAIN = ("method.save_strategy=no", "method.logging_steps=1", "method.activation_checkpointing=false",
         "method.per_device_train_batch_size=8", "method.per_device_eval_batch_size=8", "method.eval_strategy=no")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory for the run directories (default: a temp dir)")
    parser.add_argument("--sft-steps", type=int, default=24, help="SFT steps of 8 rows from the model (default 24)")
    parser.add_argument("--steps", type=int, default=10,
                        help="steps of each later stage and of its SFT control (default 10)")
    parser.add_argument("--held-out", type=int, default=100, help="held-out problems scored (default 100)")
    parser.add_argument("--sft-lr", type=float, default=1e-4, help="SFT and control learning rate (default 1e-4)")
    parser.add_argument("--lr-pref", type=float, default=1e-5, help="RPO, DPO and GRPO learning rate (default 1e-5)")
    args = parser.parse_args()
    try:
        gguf_dir, gguf_name = smollm2()
    except Unavailable as error:
        sys.exit(f"real_model: {error}")
    out = args.out or Path(tempfile.mkdtemp(prefix="align-real-model-"))
    runs = {name: out / name for name in ("sft", "rs", "rpo", "dpo", "grpo", "control", "control_low_lr")}
    data = (*DATA, f"data.num_test={args.held_out}")
    common = (*data, *TRAIN)
    sft_model = f"model.name_or_path={runs['sft'] / 'model'}"
    pref = (f"method.max_steps={args.steps}", f"method.learning_rate={args.lr_pref}", "method.warmup_steps=0")
    started = time.time()
    times = {
        "sft": align("method=sft", f"model.name_or_path={gguf_dir}", f"model.gguf_file={gguf_name}", *common,
                     f"method.max_steps={args.sft_steps}", f"method.learning_rate={args.sft_lr}",
                     "method.warmup_steps=2", "method.max_length=128", f"hydra.run.dir={runs['sft']}"),
        "rejection sampling": align("method=rejection_sampling", sft_model, *data, "method.num_prompts=64",
                                    "method.num_samples=4", "method.temperature=0.7", "method.max_new_tokens=16",
                                    "method.generation_batch_size=64", f"hydra.run.dir={runs['rs']}"),
    }
    pairs = ("data=file", f"data.path={runs['rs'] / 'samples.jsonl'}", sft_model, *TRAIN, *pref,
             "method.max_length=128")
    times["rpo"] = align("method=rpo", *pairs, f"hydra.run.dir={runs['rpo']}")
    times["dpo (sigmoid)"] = align("method=dpo", *pairs, f"hydra.run.dir={runs['dpo']}")
    times["grpo"] = align("method=grpo", sft_model, *common, *pref, "method.num_generations=4",
                          "method.max_completion_length=16", "method.temperature=0.7",
                          "method.reward_funcs=[exact_match]", f"hydra.run.dir={runs['grpo']}")
    for name, lr in (("control", args.sft_lr), ("control_low_lr", args.lr_pref)):
        times[f"sft {name}"] = align("method=sft", sft_model, *common, f"method.max_steps={args.steps}",
                                     f"method.learning_rate={lr}", "method.warmup_steps=0", "method.max_length=128",
                                     f"hydra.run.dir={runs[name]}")

    scored = {"start": smollm2_converted(), **{name: run / "model" for name, run in runs.items() if name != "rs"}}
    scores = {name: tuple(100 * s for s in held_out(model, runs["sft"], args.held_out))
              for name, model in scored.items()}
    sampling, grpo = metrics(runs["rs"]), metrics(runs["grpo"])
    print(f"run directories: {out}")
    for stage, seconds in times.items():
        print(f"{stage:<20} {seconds:6.1f} s")
    print(f"rejection sampling: pass@1 {100 * sampling['mean_score']:.1f}%, pass@{sampling['num_samples']} "
          f"{100 * sampling['mean_best_score']:.1f}%, {sampling['num_pairs']} pairs from {sampling['num_prompts']} "
          f"prompts; GRPO reward {grpo['train_reward_start']:.3f} -> {grpo['train_reward_end']:.3f}")
    print(f"held-out exact match, extracted (strict), {args.held_out} problems: "
          + ", ".join(f"{name} {e:.1f}% ({s:.1f}%)" for name, (s, e) in scores.items()))
    control = max(scores["control"][1], scores["control_low_lr"][1])
    gains = {"sft": scores["sft"][1] - scores["start"][1],
             **{name: scores[name][1] - control for name in ("rpo", "dpo", "grpo")}}
    print(f"gain over control: sft vs start, the others vs the better SFT control ({control:.1f}%, same extra steps): "
          + ", ".join(f"{name} {gain:+.1f}" for name, gain in gains.items()))
    print(f"total {time.time() - started:.0f} s")
    best = max(gains, key=gains.get)
    print(f"best stage: {best}, gain over its control {gains[best]:+.1f} points")


if __name__ == "__main__":
    main()
