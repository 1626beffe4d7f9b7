"""TensorBoard: event files per sweep job in its run directory."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_sweep_writes_tensorboard_events_per_job(tracked_sweep):
    sweep_dir, _ = tracked_sweep
    jobs = [p for p in sweep_dir.iterdir() if (p / "metrics.json").is_file()]
    assert len(jobs) == 2
    for job in jobs:
        assert list((job / "tensorboard").glob("events.out.tfevents.*"))
