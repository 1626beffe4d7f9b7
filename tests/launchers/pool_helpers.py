"""Running the small test app of tests/launchers/app in a subprocess, and reading what its jobs wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app" / "pool_app.py"


def run_app(sweep_dir: Path, *overrides: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python pool_app.py -m OVERRIDES hydra.sweep.dir=SWEEP_DIR`, as a user who set no OMP_NUM_THREADS runs it
    (the test session sets one per worker); never raises on the exit code."""
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    return subprocess.run(
        [sys.executable, str(APP), "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=sweep_dir.parent,
        env=env,
    )


def metrics(sweep_dir: Path) -> dict[str, dict]:
    """Job directory name -> that job's metrics.json, for every job that finished."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/metrics.json"))}
