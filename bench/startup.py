"""How fast the command line answers without training: `--cfg job`, `--help` and a validation error.

    python bench/startup.py [--repeats 7]

Each command runs --repeats times in a fresh process from a scratch directory; the median wall time counts. The
floor beside them is a process that only imports Hydra and OmegaConf, what any Hydra application pays before it
does anything. The last line printed is `--cfg job` median (target: under 1 s, without importing torch).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

COMMANDS = {
    "--cfg job": ["-m", "align", "method=dpo", "model.name_or_path=HuggingFaceH4/zephyr-7b-beta", "--cfg", "job"],
    "--help": ["-m", "align", "--help"],
    "validation error": ["-m", "align", "method=dpo", "method.beta=-1", "dry_run=true"],
    "floor (import hydra, omegaconf)": ["-c", "import hydra, omegaconf"],
}


def median_wall(args: list[str], repeats: int, cwd: str) -> tuple[float, str]:
    """Median wall seconds of `python <args>`, and whether one more run (with -X importtime) imported torch."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "launchers")])}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
    probe = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=cwd, env=env, capture_output=True,
                           text=True)
    torch = "imports torch" if re.search(r"\|\s+torch$", probe.stderr, re.M) else "no torch"
    return statistics.median(times), torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for label, command in COMMANDS.items():
            results[label] = median_wall(command, args.repeats, scratch)
            print(f"{label:34s} {results[label][0]:.2f} s  ({results[label][1]})", flush=True)
    seconds, torch = results["--cfg job"]
    print(f"--cfg job: median {seconds:.2f} s over {args.repeats} runs ({torch}; target < 1 s)")


if __name__ == "__main__":
    main()
