"""A small Hydra app for the launcher tests: sleeps, records its environment, writes metrics.json."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


def task(cfg: DictConfig) -> dict:
    start = time.time()
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "pid").write_text(str(os.getpid()))
    if cfg.value < 0:
        sys.stderr.write(f"pool_app: error: value={cfg.value} is negative; expected a value >= 0.\n")
        raise SystemExit(2)
    if cfg.port_clashes:
        _fail_on_a_taken_port(out, int(cfg.port_clashes))
    time.sleep(float(cfg.seconds))
    if cfg.value == cfg.crash_on:
        os.kill(os.getpid(), signal.SIGKILL)
    print(f"job {cfg.value} finished")
    metrics = {
        "value": cfg.value,
        "score": float(cfg.value) * 2,
        "pid": os.getpid(),
        "start": start,
        "end": time.time(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "port": os.environ.get("ALIGN_MAIN_PROCESS_PORT", ""),
        "master_port": os.environ.get("MASTER_PORT", ""),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""),
        "cuda_device_order": os.environ.get("CUDA_DEVICE_ORDER", ""),
    }
    partial = out / "metrics.json.partial"
    partial.write_text(json.dumps(metrics))
    os.replace(partial, out / "metrics.json")
    return metrics


def _fail_on_a_taken_port(out: Path, clashes: int) -> None:
    """Exit 1 with c10d's message while fewer than `clashes` attempts have; each attempt's port goes to a file."""
    ports = out / "attempt_ports"
    tried = ports.read_text().split() if ports.is_file() else []
    ports.write_text(" ".join([*tried, os.environ["MASTER_PORT"]]))
    if len(tried) < clashes:
        sys.stderr.write(
            "torch.distributed.DistNetworkError: The server socket has failed to listen on any local network "
            f"address. port: {os.environ['MASTER_PORT']}, useIpv6: 0, code: -98, name: EADDRINUSE, "
            "message: address already in use\n"
        )
        raise SystemExit(1)


if __name__ == "__main__":
    # Decorated here, not at import: hydra.main sets Hydra's process-wide version base, and tests
    # import `task` next to Hydra's own launcher suites, which expect it unset.
    hydra.main(version_base=None, config_path=".", config_name="config")(task)()
