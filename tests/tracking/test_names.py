"""How runs are grouped and named in the trackers: the sweep directory as the W&B group, the method and the swept
overrides as the run name."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig

from align.tracking import names
from tests.conftest import compose_cfg


@pytest.fixture
def outside_hydra(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Hydra job is running (another test may have left HydraConfig set)."""
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)


def test_group_is_the_sweep_directory_of_a_job(tmp_path: Path, outside_hydra):
    cfg = compose_cfg("tracking=wandb")
    job = tmp_path / "sweep" / "method.beta=0.1"
    job.mkdir(parents=True)
    (tmp_path / "sweep" / "multirun.yaml").write_text("hydra: {}\n")
    assert names.group(cfg, job) == str((tmp_path / "sweep").resolve())
    single = tmp_path / "single"
    assert names.group(cfg, single) == str(single.resolve())
    assert names.group(compose_cfg("tracking=wandb", "tracking.group=scan-1"), job) == "scan-1"


def test_run_name_is_the_method_or_tracking_run_name(outside_hydra):
    assert names.run_name(compose_cfg("method=dpo", "tracking=wandb")) == "dpo"
    assert names.run_name(compose_cfg("tracking=wandb", "tracking.run_name=mine")) == "mine"
