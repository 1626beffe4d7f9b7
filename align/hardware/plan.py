"""The resolved hardware plan: which device, how many processes on how many machines, and where they meet,
computed once per run from the hardware option, the visible GPUs and SLURM's environment (no torch import)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from align.hardware.devices import inside_distributed_launch, visible_devices

DEFAULT_PORT = 29500  # where the machines of a multi-machine run meet unless told otherwise


@dataclass(frozen=True)
class HardwarePlan:
    """What the hardware option comes to on this machine (or, for a dry run, on the machine it names)."""

    name: str
    distributed: str  # no, ddp, deepspeed or fsdp
    gpus: int  # visible GPUs
    device: str  # cuda or cpu: where the model is put
    num_processes: int  # per machine
    num_machines: int
    machine_rank: int
    main_process_ip: str
    main_process_port: int

    @property
    def world_size(self) -> int:
        """Processes over all machines."""
        return self.num_processes * self.num_machines

    @property
    def on_cuda(self) -> bool:
        return self.device == "cuda"

    @property
    def needs_launch(self) -> bool:
        """A multi-process option asked for from a plain (not yet distributed) process: relaunch through accelerate."""
        return self.distributed != "no" and not inside_distributed_launch() and self.world_size > 1


def plan(hw: DictConfig) -> HardwarePlan:
    """The hardware settings with defaults filled in: device, process count, machines, rendezvous address."""
    gpus = len(visible_devices())
    values: dict[str, Any] = {key: hw[key] for key in ("num_machines", "machine_rank", "main_process_ip")}
    for key, value in slurm_nodes().items():
        if values.get(key) is None:
            values[key] = value
    machines = values.get("num_machines") or 1
    port = hw.main_process_port or os.environ.get("ALIGN_MAIN_PROCESS_PORT")
    if not port:  # one machine: a free port, so that two runs on a node (or a leftover process) never collide
        port = DEFAULT_PORT if machines > 1 else free_local_port()
    processes = hw.num_processes
    if processes is None:
        processes = max(gpus, 1) if hw.distributed != "no" else 1
    return HardwarePlan(
        name=hw.name,
        distributed=hw.distributed,
        gpus=gpus,
        device="cuda" if hw.device != "cpu" and gpus > 0 else "cpu",
        num_processes=processes,
        num_machines=machines,
        machine_rank=values.get("machine_rank") or 0,
        main_process_ip=values.get("main_process_ip") or "127.0.0.1",
        main_process_port=int(port),
    )


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_nodes() -> dict[str, Any]:
    """num_machines, machine_rank and main_process_ip from SLURM's environment, when inside a SLURM job."""
    if "SLURM_JOB_ID" not in os.environ:
        return {}
    found: dict[str, Any] = {}
    if os.environ.get("SLURM_NNODES"):
        found["num_machines"] = int(os.environ["SLURM_NNODES"])
    if os.environ.get("SLURM_NODEID"):
        found["machine_rank"] = int(os.environ["SLURM_NODEID"])
    nodelist = os.environ.get("SLURM_JOB_NODELIST")
    if nodelist and shutil.which("scontrol"):
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True)
        if out.stdout.strip():
            found["main_process_ip"] = out.stdout.split()[0]
    return found
