"""Launcher tests: make the plugin importable in the Hydra scripts that tests start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCHERS = REPO / "launchers"


@pytest.fixture(autouse=True)
def plugin_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hydra scripts started by a test (ours and Hydra's integration suite) must find the plugin, and the
    plugin this checkout's align (it imports align.sweep.names and align.hardware.devices)."""
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(REPO), str(LAUNCHERS), path) if p))
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)


@pytest.fixture(autouse=True)
def hydra_default_version_base():
    """Hydra's launcher suites assume its default version base; composing a config elsewhere in the session
    (`initialize_config_dir(version_base=None)`) sets the process-wide one to 1.3, where jobs no longer chdir."""
    from hydra.version import _UNSPECIFIED_, VersionBase

    version = VersionBase.instance()
    saved = version.getbase()
    version.version_base = _UNSPECIFIED_  # setbase() accepts only a Version
    yield
    version.version_base = saved
