"""Which job runs next on which devices: a pure scheduler (no processes, testable with fake durations),
plus free rendezvous ports and telling when a job lost its port to another process.

The node's GPUs come from align.hardware.devices.visible_devices, which align's own runs use too."""

from __future__ import annotations

import re
import socket
from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

Job = TypeVar("Job", bound=Hashable)

# What torch.distributed (c10d's TCPStore) and the OS print when a rendezvous port is already bound.
_PORT_TAKEN = re.compile(
    r"address already in use|EADDRINUSE|server socket has failed to listen on any local network address", re.I
)


class Scheduler(Generic[Job]):
    """Starts queued jobs in order while a slot is free; a slot is `gpus_per_job` devices or one CPU slot.

    Devices are handed out lowest id first and come back whole, so with equal-sized jobs the groups
    stay aligned ([0,1], [2,3], ...) and no device is ever in two running jobs.
    """

    def __init__(self, jobs: Iterable[Job], devices: list[str], gpus_per_job: int, cpu_slots: int) -> None:
        self.uses_gpus = bool(devices)
        if self.uses_gpus:
            if gpus_per_job < 1 or gpus_per_job > len(devices):
                raise ValueError(
                    f"hydra.launcher.gpus_per_job={gpus_per_job} cannot be served by the "
                    f"{len(devices)} device(s) {devices}: expected 1 to {len(devices)}."
                )
            if len(set(devices)) != len(devices):
                raise ValueError(f"hydra.launcher.devices lists a device twice: {devices}.")
            self._per_job = gpus_per_job
            self._order = {d: i for i, d in enumerate(devices)}
            self._free = list(devices)
        else:
            if cpu_slots < 1:
                raise ValueError(f"hydra.launcher.cpu_slots={cpu_slots}: expected at least 1.")
            # Without GPUs a slot is a label; jobs get no CUDA_VISIBLE_DEVICES from it.
            self._per_job = 1
            self._order = {f"cpu{i}": i for i in range(cpu_slots)}
            self._free = list(self._order)
        self.slots = len(self._free) // self._per_job
        self.idle_devices = len(self._free) % self._per_job if self.uses_gpus else 0
        self.queue: deque[Job] = deque(jobs)
        self.running: dict[Job, tuple[str, ...]] = {}

    def start_ready(self) -> list[tuple[Job, tuple[str, ...]]]:
        """Pops every queued job that can start now, with the devices it gets (empty on CPU)."""
        started = []
        while self.queue and len(self._free) >= self._per_job:
            job = self.queue.popleft()
            taken, self._free = self._free[: self._per_job], self._free[self._per_job :]
            self.running[job] = tuple(taken)
            started.append((job, tuple(taken) if self.uses_gpus else ()))
        return started

    def finish(self, job: Job) -> None:
        """Gives the job's devices back."""
        self._free.extend(self.running.pop(job))
        self._free.sort(key=self._order.__getitem__)

    @property
    def free(self) -> tuple[str, ...]:
        return tuple(self._free)

    @property
    def done(self) -> bool:
        return not self.queue and not self.running


def free_port(taken: set[int]) -> int:
    """A TCP port nobody listens on now and no running job was given (the OS may hand one out twice)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("", 0))
            port = sock.getsockname()[1]
        if port not in taken:
            return port


def port_was_taken(log: str) -> bool:
    """The log of a failed job says that its rendezvous port was in use when it tried to listen on it."""
    return _PORT_TAKEN.search(log) is not None
