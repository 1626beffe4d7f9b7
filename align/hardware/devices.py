"""The GPUs this process may use and its place among the processes of a run, found without importing torch."""

from __future__ import annotations

import os
import shutil
import subprocess


def visible_devices() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES as CUDA reads it, else every GPU `nvidia-smi -L` lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = []
        for item in (part.strip() for part in env.split(",")):
            # CUDA stops at the first invalid entry: "-1" or "" hides everything after it.
            if not item or item.startswith("-"):
                break
            ids.append(item)
        return ids
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(ln for ln in out.splitlines() if ln.startswith("GPU "))]


def inside_distributed_launch() -> bool:
    """This process is one worker of a multi-process run (started by accelerate/torchrun)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_main_process() -> bool:
    """The process that writes the run directory: rank 0 of a multi-process run, or the only process."""
    return int(os.environ.get("RANK", "0")) == 0
