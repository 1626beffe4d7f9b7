"""The handbook pipeline on the embedded default: SFT -> rejection sampling -> DPO, as the README's commands.

Runs the three `python -m align` commands (DPO with the RPO loss: sigmoid + NLL on the chosen answer),
then scores held-out exact match (greedy answers to arithmetic problems no stage trained or sampled on)
of the SFT model and of the DPO model. Last line: `gain +X.X points`. Figures: docs/performance.md.
Usage: python bench/pipeline.py [--out DIR] [--sft OVERRIDE ...] [--rs ...] [--dpo ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parent.parent


def align(*overrides: str) -> float:
    """Run `python -m align OVERRIDES`; return its wall time, or exit with its stderr on failure."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    started = time.time()
    out = subprocess.run([sys.executable, "-m", "align", *overrides], cwd=REPO, env=env, capture_output=True,
                         text=True)
    if out.returncode != 0:
        sys.exit(f"python -m align {' '.join(overrides)} failed:\n{out.stderr[-3000:]}")
    return time.time() - started


def held_out_exact_match(model_dir: Path, sft_dir: Path) -> float:
    """Exact match on the SFT run's whole test split: problems no stage trained or sampled on."""
    from omegaconf import OmegaConf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from align.data.arithmetic import exact_match_set
    from align.eval.exact_match import exact_match

    data = OmegaConf.load(sft_dir / ".hydra" / "config.yaml").data
    data.num_exact_match = data.num_test
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return exact_match(model, AutoTokenizer.from_pretrained(model_dir), exact_match_set(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory for the three run directories (default: a temp dir)")
    for stage in ("sft", "rs", "dpo"):
        parser.add_argument(f"--{stage}", nargs="*", default=[], metavar="OVERRIDE", help=f"extra {stage} overrides")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="align-pipeline-"))
    sft, rs, dpo = out / "sft", out / "rs", out / "dpo"
    started = time.time()
    times = {
        "sft": align(f"hydra.run.dir={sft}", *args.sft),
        "rejection sampling": align(
            "method=rejection_sampling", f"model.name_or_path={sft / 'model'}", f"hydra.run.dir={rs}", *args.rs
        ),
        "dpo (rpo loss)": align(
            "method=rpo", "data=file", f"data.path={rs / 'samples.jsonl'}", f"model.name_or_path={sft / 'model'}",
            f"hydra.run.dir={dpo}", *args.dpo,
        ),
    }
    sampling = json.loads((rs / "metrics.json").read_text())
    before = 100 * held_out_exact_match(sft / "model", sft)
    after = 100 * held_out_exact_match(dpo / "model", sft)
    held_out = OmegaConf.load(sft / ".hydra" / "config.yaml").data.num_test
    total = time.time() - started
    print(f"run directories: {out}")
    for stage, seconds in times.items():
        print(f"{stage:<20} {seconds:6.1f} s")
    print(f"rejection sampling:  pass@1 {100 * sampling['mean_score']:.1f}%, pass@{sampling['num_samples']} "
          f"{100 * sampling['mean_best_score']:.1f}%, {sampling['num_pairs']} pairs from {sampling['num_prompts']} "
          "prompts")
    print(f"held-out exact match ({held_out} problems): after SFT {before:.1f}%, after DPO {after:.1f}%")
    print(f"whole pipeline       {total:6.1f} s")
    print(f"gain {after - before:+.1f} points")


if __name__ == "__main__":
    main()
