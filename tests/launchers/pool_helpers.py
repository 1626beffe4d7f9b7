"""Running the small test app of tests/launchers/app in a subprocess, and reading what its jobs wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app" / "pool_app.py"


def run_app(sweep_dir: Path, *overrides: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python pool_app.py -m OVERRIDES hydra.sweep.dir=SWEEP_DIR`; never raises on the exit code."""
    return subprocess.run(
        [sys.executable, str(APP), "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=sweep_dir.parent,
    )


def metrics(sweep_dir: Path) -> dict[str, dict]:
    """Job directory name -> that job's metrics.json, for every job that finished."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/metrics.json"))}
