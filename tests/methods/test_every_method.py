"""Every method in conf/method/ trains (or samples) 8 steps on the embedded default and writes metrics.json and
model/: the list comes from the config folder, so a new method cannot go untested."""

from __future__ import annotations

from pathlib import Path

import pytest

from align.methods import METHODS
from align.paths import conf_dir
from tests.methods.conftest import train

OPTIONS = sorted(p.stem for p in (conf_dir() / "method").glob("*.yaml"))
# Methods that generate instead of training: their own test files run them (they need a trained policy).
GENERATING = sorted(m.name for m in METHODS.values() if not m.trains)


@pytest.mark.slow
@pytest.mark.parametrize("method", [m for m in OPTIONS if m not in GENERATING])
def test_eight_steps_write_metrics_and_model(method: str, tmp_path: Path):
    metrics = train(tmp_path / "run", f"method={method}", "method.max_steps=8")
    assert metrics["method"] == method and metrics["train_steps"] == 8


def test_every_row_of_the_method_table_has_an_option():
    """A row no yaml selects would be a method users cannot reach."""
    from tests.conftest import compose_cfg

    trainers = {compose_cfg(f"method={option}").method.trainer for option in OPTIONS}
    assert trainers == set(METHODS)
