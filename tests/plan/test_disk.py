"""Disk for checkpoints (align/plan/disk.py): how many a run keeps, their size against a real checkpoint's,
the plan's line, and the warning a run gives before training when they will not fit."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from align.plan import disk as space
from align.plan.memory import architecture, checkpoint_bytes
from align.plan.model_config import model_config
from tests.conftest import compose_valid_cfg, prepared, run_align

DONE_WHEN = ("method=dpo", "method.max_steps=40", "method.save_steps=10")


def tiny_arch(cfg):
    config, _ = model_config(cfg.model)
    return architecture(config, cfg.peft)


@pytest.mark.parametrize(("overrides", "steps", "kept"), [
    ((), 40, 4),  # steps 10, 20, 30 and 40
    (("method.save_total_limit=2",), 40, 2),
    (("method.save_steps=15",), 40, 3),  # 15, 30 and the last step
    (("method.save_steps=0.5",), 40, 2),  # a ratio of the run, as transformers reads it
    (("method.save_strategy=epoch", "method.num_train_epochs=3"), 40, 3),
    ((), None, None),  # steps unknown (data not reachable)
])
def test_how_many_checkpoints_a_run_keeps(overrides: tuple[str, ...], steps: int | None, kept: int | None,
                                          tmp_path: Path):
    cfg = compose_valid_cfg(*DONE_WHEN, *overrides)
    assert space.checkpoint_space(cfg, False, tiny_arch(cfg), steps, tmp_path).kept == kept


@pytest.mark.parametrize("overrides", [(*DONE_WHEN, "method.save_strategy=no"), ("method=rejection_sampling",)],
                         ids=["save_strategy=no", "a method that does not train"])
def test_no_checkpoints_need_no_space(overrides: tuple[str, ...], tmp_path: Path, caplog):
    run = prepared(*overrides)
    assert space.checkpoint_space(run.cfg, False, tiny_arch(run.cfg), 40, tmp_path) is None
    with caplog.at_level(logging.WARNING):
        space.warn_if_too_big(run, tmp_path)
    assert not caplog.records


def test_the_estimate_matches_a_real_checkpoint(tmp_path: Path):
    run_dir = tmp_path / "run"
    out = run_align(*DONE_WHEN, "method.max_steps=2", "method.save_steps=2", "data.num_train=64", "data.num_test=8",
                    "data.num_exact_match=0", f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-2000:]
    checkpoint = run_dir / "checkpoints" / "checkpoint-2"
    written = sum(p.stat().st_size for p in checkpoint.iterdir() if p.name in ("model.safetensors", "optimizer.pt"))
    cfg = compose_valid_cfg(*DONE_WHEN)
    assert checkpoint_bytes(cfg, tiny_arch(cfg), False) == pytest.approx(written, rel=0.1)


def test_a_run_warns_before_training_when_its_checkpoints_will_not_fit(tmp_path: Path, caplog, monkeypatch):
    run = prepared(*DONE_WHEN)
    monkeypatch.setattr(space, "free_space", lambda run_dir: 1024**2)  # 1 MiB left
    with caplog.at_level(logging.WARNING, logger="align.plan.disk"):
        space.warn_if_too_big(run, tmp_path / "run")
    (record,) = caplog.records
    assert record.getMessage().startswith("Checkpoints: every 10 steps and at the end; about ")
    assert "4 kept (all of them: method.save_total_limit=null)" in record.getMessage()
    assert "1.0 MiB free on the disk of" in record.getMessage() and "NOT ENOUGH SPACE" in record.getMessage()
    caplog.clear()
    monkeypatch.setattr(space, "free_space", lambda run_dir: 1024**4)
    space.warn_if_too_big(run, tmp_path / "run")
    assert not caplog.records
