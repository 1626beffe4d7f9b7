"""The pool's scheduling without processes: fake job durations on a simulated 8-GPU node; rendezvous ports."""

from __future__ import annotations

import heapq
import random
import socket

import pytest
from hydra_plugins.align_pool_launcher._scheduler import Scheduler, free_port, port_was_taken

EIGHT_GPUS = [str(i) for i in range(8)]


def simulate(durations: list[float], devices: list[str], gpus_per_job: int, cpu_slots: int = 1):
    """Runs the scheduler on a virtual clock; checks invariants at every event; returns the timeline."""
    scheduler = Scheduler(range(len(durations)), devices, gpus_per_job, cpu_slots)
    clock, ends, timeline = 0.0, [], []
    while not scheduler.done:
        for job, group in scheduler.start_ready():
            heapq.heappush(ends, (clock + durations[job], job))
            timeline.append((clock, clock + durations[job], job, group))
        held = [d for group in scheduler.running.values() for d in group]
        assert len(held) == len(set(held)), f"a device is in two jobs at t={clock}: {scheduler.running}"
        if scheduler.queue:  # nobody waits while enough devices are free
            assert len(scheduler.free) < gpus_per_job
        clock, job = heapq.heappop(ends)
        scheduler.finish(job)
    return timeline


def test_eight_gpus_two_per_job_never_overlap_and_stay_busy():
    rng = random.Random(0)
    durations = [rng.uniform(1, 10) for _ in range(40)]
    timeline = simulate(durations, EIGHT_GPUS, gpus_per_job=2)
    assert sorted(job for *_, job, _ in timeline) == list(range(40))
    for start, end, _, group in timeline:
        assert len(group) == 2
        for other_start, other_end, _, other in timeline:
            if group is not other and start < other_end and other_start < end:
                assert not set(group) & set(other)
    # Busy: until the queue empties (last start), all 8 devices are held at every instant.
    last_start = max(start for start, *_ in timeline)
    for t in [s for s, *_ in timeline if s < last_start]:
        busy = sum(len(g) for s, e, _, g in timeline if s <= t < e)
        assert busy == 8


def test_groups_stay_aligned_pairs():
    timeline = simulate([3, 1, 2, 5, 1, 1, 4, 2, 2, 3], EIGHT_GPUS, gpus_per_job=2)
    assert {group for *_, group in timeline} <= {("0", "1"), ("2", "3"), ("4", "5"), ("6", "7")}


def test_first_wave_fills_the_node_in_order():
    scheduler = Scheduler(range(6), EIGHT_GPUS, gpus_per_job=2, cpu_slots=1)
    started = scheduler.start_ready()
    assert started == [(0, ("0", "1")), (1, ("2", "3")), (2, ("4", "5")), (3, ("6", "7"))]
    assert list(scheduler.queue) == [4, 5] and scheduler.start_ready() == []
    scheduler.finish(2)
    assert scheduler.start_ready() == [(4, ("4", "5"))]


def test_cpu_slots_run_that_many_jobs_without_devices():
    scheduler = Scheduler(range(5), [], gpus_per_job=1, cpu_slots=2)
    assert not scheduler.uses_gpus and scheduler.slots == 2
    assert scheduler.start_ready() == [(0, ()), (1, ())]
    scheduler.finish(1)
    assert scheduler.start_ready() == [(2, ())]


def test_leftover_devices_are_reported_idle():
    scheduler = Scheduler(range(3), EIGHT_GPUS[:6], gpus_per_job=4, cpu_slots=1)
    assert scheduler.slots == 1 and scheduler.idle_devices == 2


@pytest.mark.parametrize(
    ("devices", "per_job", "slots", "message"),
    [
        (["0", "1"], 4, 1, "gpus_per_job=4"),
        (["0", "1"], 0, 1, "gpus_per_job=0"),
        (["0", "0"], 1, 1, "twice"),
        ([], 1, 0, "cpu_slots=0"),
    ],
)
def test_impossible_settings_are_named(devices, per_job, slots, message):
    with pytest.raises(ValueError, match=message):
        Scheduler([0], devices, per_job, slots)


def test_free_port_is_free_and_not_taken():
    first = free_port(set())
    with socket.socket() as sock:
        sock.bind(("", first))  # nobody holds it
    assert free_port({first}) != first


@pytest.mark.parametrize(
    ("log", "taken"),
    [
        ("torch.distributed.DistNetworkError: The server socket has failed to listen on any local network "
         "address. port: 29500, useIpv6: 0, code: -98, name: EADDRINUSE, message: address already in use", True),
        ("RuntimeError: Address already in use", True),
        ("OSError: [Errno 98] EADDRINUSE", True),
        ("align: error: Invalid value for method.beta: -1.", False),
        ("", False),
    ],
)
def test_a_taken_port_is_told_apart_from_other_failures(log: str, taken: bool):
    assert port_was_taken(log) is taken
