"""The issue's acceptance run: `python -m align method=M method.max_steps=8` for every method on the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.methods.conftest import train

METHODS = ["cpt", "sft", "reward", "dpo", "ipo", "kto", "orpo", "simpo", "cpo", "rpo", "mpo"]


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_eight_steps_write_metrics_and_model(method: str, tmp_path: Path):
    metrics = train(tmp_path / "run", f"method={method}", "method.max_steps=8")
    assert metrics["method"] == method and metrics["train_steps"] == 8
