"""The embedded tiny model (align/tiny.py): built once into the cache, and rebuilt when its directory is incomplete."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from align.model.tiny import tiny_model_dir
from tests.conftest import REPO


def test_an_incomplete_tiny_model_directory_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALIGN_CACHE_DIR", str(tmp_path))
    build = yaml.safe_load((REPO / "conf" / "model" / "tiny.yaml").read_text())["build"]
    built = tiny_model_dir(build)
    assert built.parent == tmp_path / "tiny" and (built / "model.safetensors").is_file()
    (built / "config.json").unlink()  # as if a writer had died half-way
    (built / "stray.txt").write_text("left behind")
    assert tiny_model_dir(build) == built
    assert (built / "config.json").is_file() and not (built / "stray.txt").exists()
