"""What the quality benchmarks share: running one `python -m align` stage, reading its run directory, and scoring
a saved model's greedy answers on the held-out arithmetic problems of a run's data config (strict and extracted
exact match, the verifier align itself uses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# The SFT controls run at the tiny SFT tuning's learning rate (1e-3) and at a tenth of it; the better one counts.
CONTROL_LOW_LR = 1e-4


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


def metrics(run_dir: Path) -> dict[str, Any]:
    """The run's metrics.json."""
    return json.loads((run_dir / "metrics.json").read_text())


def train_seconds(run_dir: Path) -> float:
    """The trainer's own training runtime (no start-up, no evaluation)."""
    history = json.loads((run_dir / "log_history.json").read_text())
    return next(entry["train_runtime"] for entry in reversed(history) if "train_runtime" in entry)


def held_out(model_dir: Path, data_run: Path, limit: int | None = None) -> tuple[float, float]:
    """(strict, extracted) greedy exact match of `model_dir` on the whole test split (or its first `limit`
    problems) of `data_run`'s data config: problems no stage trained or sampled on."""
    from omegaconf import OmegaConf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from align.data.arithmetic import exact_match_set
    from align.eval.exact_match import exact_match_scores

    data = OmegaConf.load(data_run / ".hydra" / "config.yaml").data
    data.num_exact_match = limit or data.num_test
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return exact_match_scores(model, AutoTokenizer.from_pretrained(model_dir), exact_match_set(data))
