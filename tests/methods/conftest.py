"""Shared helpers for the method tests: short real runs of `python -m align` and the curves they logged."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_align

# 12 steps over the same 32 examples: every method must visibly move its own objective on data it has
# seen (a few steps cannot teach the tiny model arithmetic it has never seen).
OVERFIT = (
    "data.num_train=32",
    "data.num_test=32",
    "data.num_exact_match=0",
    "method.max_steps=12",
    "method.logging_steps=1",
)


def train(run_dir: Path, *overrides: str) -> dict:
    """Run `python -m align OVERRIDES` into run_dir; check it wrote model/ and return metrics.json."""
    out = run_align(*overrides, f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (run_dir / "model" / "config.json").is_file()
    return json.loads((run_dir / "metrics.json").read_text())


def logged(run_dir: Path, key: str) -> list[float]:
    """A training-time metric (loss, rewards/margins, ...) at every logging step."""
    history = json.loads((run_dir / "log_history.json").read_text())
    return [entry[key] for entry in history if key in entry]


def start_end(values: list[float], n: int = 3) -> tuple[float, float]:
    """Mean of the first and of the last n values of a curve."""
    assert len(values) >= 2 * n, values
    return sum(values[:n]) / n, sum(values[-n:]) / n


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path
