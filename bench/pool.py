"""How well the pool launcher packs jobs: 8 equal jobs on 2 CPU slots through a real Hydra multirun.

    python bench/pool.py [--jobs 8] [--slots 2] [--seconds 15] [--busy]

Makespan is the wall time of the whole multirun (composing, spawning each job's process, collecting
results), measured in this process; ideal is total job time / slots. Each job sleeps (or, with
--busy, spins a core) for --seconds. The last line printed is makespan / ideal (target <= 1.05).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

REPO = Path(__file__).resolve().parent.parent
# Run from a checkout without installing: Hydra finds plugins on sys.path.
sys.path.append(str(REPO / "launchers"))

ConfigStore.instance().store(name="bench_pool", node={"job": 0, "seconds": 10.0, "busy": False})


@hydra.main(version_base=None, config_name="bench_pool")
def job(cfg: DictConfig) -> dict[str, float]:
    start = time.time()
    if cfg.busy:
        while time.time() - start < cfg.seconds:
            pass
    else:
        time.sleep(cfg.seconds)
    times = {"start": start, "end": time.time()}
    (Path(HydraConfig.get().runtime.output_dir) / "times.json").write_text(json.dumps(times))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--busy", action="store_true", help="spin a core instead of sleeping")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as sweep_dir:
        sys.argv = [
            sys.argv[0],
            "-m",
            f"job=range({args.jobs})",
            f"seconds={args.seconds}",
            f"busy={args.busy}",
            "hydra/launcher=pool",
            f"hydra.launcher.cpu_slots={args.slots}",
            f"hydra.sweep.dir={sweep_dir}",
            "hydra/hydra_logging=disabled",
            "hydra/job_logging=disabled",
        ]
        tic = time.time()
        job()  # the whole multirun, as `python bench/pool.py -m ...` would run it
        makespan = time.time() - tic
        runs = [json.loads(p.read_text()) for p in Path(sweep_dir).glob("*/times.json")]

    assert len(runs) == args.jobs, f"{len(runs)} of {args.jobs} jobs finished"
    ideal = args.jobs * args.seconds / args.slots
    first_start = min(r["start"] for r in runs)
    last_end = max(r["end"] for r in runs)
    kind = "busy" if args.busy else "sleep"
    print(f"jobs {args.jobs}  slots {args.slots}  job time {args.seconds:g} s ({kind})")
    # The k-th job to start took the slot of the (k - slots)-th job to end: the gap is the handover.
    starts = sorted(r["start"] for r in runs)[args.slots :]
    ends = sorted(r["end"] for r in runs)[: len(starts)]
    handover = sum(s - e for s, e in zip(starts, ends, strict=True)) / max(1, len(starts))
    print(f"first job started {first_start - tic:.2f} s after launch; last ended at {last_end - tic:.2f} s")
    print(f"mean slot handover (a job ends -> the next one's task starts) {handover:.2f} s")
    print(f"makespan {makespan:.2f} s  ideal {ideal:.2f} s")
    print(f"makespan/ideal {makespan / ideal:.3f}")


if __name__ == "__main__":
    main()
