"""The TRL field manifest describes the installed TRL, and another TRL minor version is refused in one paragraph."""

from __future__ import annotations

import importlib.metadata

import pytest

from align.config.trl_fields import build_manifest, check_installed_trl, config_classes, load_manifest
from align.errors import EnvironmentProblem


def test_manifest_matches_installed_trl():
    """trl_fields.json must describe the TRL that is installed: regenerate with `python -m align.config.trl_fields`."""
    assert build_manifest() == load_manifest()


def test_manifest_covers_every_config_class_of_the_method_table():
    assert set(load_manifest()["classes"]) == set(config_classes())


def test_the_installed_trl_is_accepted():
    check_installed_trl()


def test_another_minor_version_is_refused_with_what_to_do(monkeypatch: pytest.MonkeyPatch):
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "1.99.0" if name == "trl" else real(name))
    with pytest.raises(EnvironmentProblem) as raised:
        check_installed_trl()
    message = str(raised.value)
    assert "TRL 1.99.0 is installed" in message and "pip install 'trl==1.16.*'" in message
    assert "python -m align.config.trl_fields" in message
