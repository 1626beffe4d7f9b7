"""Launcher tests: make the plugin importable in the Hydra scripts that tests start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCHERS = REPO / "launchers"


@pytest.fixture(autouse=True)
def plugin_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hydra scripts started by a test (ours and Hydra's integration suite) must find the plugin."""
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(LAUNCHERS), path) if p))
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
