"""Reference log-prob cache: K DPO-family jobs on one model and data, without the cache vs as one sweep sharing it.

    python bench/ref_cache.py [--betas 0.05,0.1,0.3] [--losses sigmoid,ipo] [--hidden-size 512] [--layers 6]
                              [--num-train 1024] [--baseline sweep|runs] [--quick] [-- EXTRA_OVERRIDE ...]

Every job trains one epoch of the train split (`method.num_train_epochs=1`) and evaluates once, on a tiny-
architecture model made bigger through `model.build.*`, so that the reference forward is about a quarter of a
step. With the cache: `python -m align -m` over the K jobs (the pool launcher, one job at a time) and a fresh
`cache.dir`: the first job tokenizes and runs the reference once, the others load it. Without it
(`cache.ref_logps=false`, each job holding a reference copy and running it on every batch): the same sweep
(`--baseline sweep`, the default, so the ratio is the cache's alone), or K separate `python -m align` runs
(`--baseline runs`: K separate commands, as a user without a sweep would run them).
Each job's process records its peak memory (RSS; CUDA allocated on a GPU) through a Hydra callback. The last
line printed is `speedup X.XXx` (wall time without ÷ with the cache; the compute limit for K=6 is 24/19).
`--quick` checks that everything runs, on the default tiny model; its figure means nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from align.config.schema import TinyBuild  # noqa: E402
from align.model.tiny import tiny_model_dir  # noqa: E402

PEAK_FILE = "peak_memory.json"


class PeakMemory:
    """Hydra callback run in each job's process: its peak memory, written to the job's directory."""

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        import resource

        peak = {"rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            peak["cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
        Path(config.hydra.runtime.output_dir, PEAK_FILE).write_text(json.dumps(peak))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--betas", default="0.05,0.1,0.3")
    parser.add_argument("--losses", default="sigmoid,ipo")
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--num-train", type=int, default=1024)
    parser.add_argument("--num-test", type=int, default=128)
    parser.add_argument("--baseline", choices=("runs", "sweep"), default="sweep",
                        help="run the jobs without the cache as independent runs, or as a sweep like the cached ones")
    parser.add_argument("--quick", action="store_true", help="default tiny model, 64 rows: a check, not a figure")
    parser.add_argument("extra", nargs="*", help="more overrides for every job (after --)")
    args = parser.parse_args()
    betas, losses = args.betas.split(","), args.losses.split(",")
    build = {} if args.quick else {"hidden_size": args.hidden_size, "num_hidden_layers": args.layers,
                                   "intermediate_size": 3 * args.hidden_size}
    if args.quick:
        args.num_train, args.num_test = 64, 32
    tiny_model_dir(asdict(TinyBuild(**build)))  # built once before the clock starts
    common = ["method=dpo", *(f"model.build.{k}={v}" for k, v in build.items()),
              f"data.num_train={args.num_train}", f"data.num_test={args.num_test}",
              "data.num_exact_match=0", "method.max_steps=-1", "method.num_train_epochs=1",
              "+hydra.callbacks.peak_memory._target_=bench.ref_cache.PeakMemory", *args.extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

    with tempfile.TemporaryDirectory(prefix="bench-ref-cache-") as tmp:
        out = Path(tmp)
        sweep = ["-m", *common, f"method.beta={args.betas}", f"method.loss_type={args.losses}",
                 "hydra.launcher.cpu_slots=1", "hydra.launcher.gpus_per_job=1"]
        tic = time.time()
        if args.baseline == "sweep":
            _align([*sweep, "cache.ref_logps=false", f"hydra.sweep.dir={out / 'plain'}"], env)
        for beta, loss in itertools.product(betas, losses) if args.baseline == "runs" else ():
            _align([*common, "cache.ref_logps=false", f"method.beta={beta}", f"method.loss_type={loss}",
                    f"hydra.run.dir={out / 'plain' / f'{loss}-{beta}'}"], env)
        plain = time.time() - tic
        tic = time.time()
        _align([*sweep, f"cache.dir={out / 'ref_logps'}", f"hydra.sweep.dir={out / 'cached'}"], env)
        cached = time.time() - tic
        jobs = len(betas) * len(losses)
        print(f"{jobs} DPO jobs (betas {args.betas} x losses {args.losses}), one epoch of {args.num_train} pairs each")
        print(f"without the cache ({args.baseline}): {plain:.1f} s, peak per job {_peaks(out / 'plain')}")
        print(f"with the cache (sweep): {cached:.1f} s, peak per job {_peaks(out / 'cached')}")
        print(f"cache entries: {_cache_line(out / 'cached')}")
    print(f"speedup {plain / cached:.2f}x")


def _align(overrides: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "align", *overrides], cwd=REPO, env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(f"python -m align {' '.join(overrides)} failed:\n{done.stderr[-3000:]}")


def _peaks(root: Path) -> str:
    peaks = [json.loads(p.read_text()) for p in sorted(root.glob(f"*/{PEAK_FILE}"))]
    shown = []
    for key, label in (("rss_mib", "RSS"), ("cuda_mib", "CUDA")):
        values = [p[key] for p in peaks if key in p]
        if values:
            shown.append(f"{label} {min(values):.0f}-{max(values):.0f} MiB (mean {sum(values) / len(values):.0f})")
    return "; ".join(shown) or "not recorded"


def _cache_line(sweep: Path) -> str:
    """What the cache's own log line said in each job: one job computed, the others hit."""
    lines = [line.split("reference log-probs: ", 1)[1].split(" (keys")[0] for log in sorted(sweep.glob("*/align.log"))
             for line in log.read_text().splitlines() if "reference log-probs: " in line]
    computed = [line for line in lines if "computed" in line]
    return f"{len(computed)} computed, {len(lines) - len(computed)} hit; {(computed or lines or ['none'])[0]}"


if __name__ == "__main__":
    main()
