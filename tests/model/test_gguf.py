"""model.gguf_file without a real GGUF: its validation, the missing gguf package, and the reference-cache key of a
converted directory. Runs on SmolLM2's real GGUF file are in test_smollm2.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.errors import ConfigError, EnvironmentProblem
from tests.conftest import compose_valid_cfg, run_align

NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def gguf_dir(tmp_path: Path) -> Path:
    """A directory as a GGUF download leaves it: .gguf files, no config.json (validation reads no content)."""
    (tmp_path / NAME).write_bytes(b"GGUF")
    (tmp_path / "SmolLM2-135M-Instruct.Q8_0.gguf").write_bytes(b"GGUF")
    return tmp_path


def test_a_directory_with_the_gguf_file_is_a_model_directory(gguf_dir: Path):
    cfg = compose_valid_cfg(f"model.name_or_path={gguf_dir}", f"model.gguf_file={NAME}")
    assert cfg.model.gguf_file == NAME and cfg.tuning is None  # a real model: the method's own values


def test_a_hub_repo_with_a_gguf_file_validates():
    cfg = compose_valid_cfg("model.name_or_path=HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", f"model.gguf_file={NAME}")
    assert cfg.model.gguf_file == NAME


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SmolLM2-135M-Instruct.Q4_0.gguf", r"The \.gguf files in .*: SmolLM2-135M-Instruct\.Q4_1\.gguf, "
         r"SmolLM2-135M-Instruct\.Q8_0\.gguf\.$"),
        ("model.safetensors", r"Expected the name of a \.gguf file inside model\.name_or_path"),
        ("/elsewhere/model.gguf", r"model\.name_or_path=/elsewhere model\.gguf_file=model\.gguf"),
    ],
)
def test_a_wrong_gguf_file_names_the_key_and_the_files_present(gguf_dir: Path, value: str, expected: str):
    with pytest.raises(ConfigError, match=r"Invalid value for model\.gguf_file: .*" + expected):
        compose_valid_cfg(f"model.name_or_path={gguf_dir}", f"model.gguf_file={value}")


def test_gguf_file_needs_the_directory_holding_it():
    with pytest.raises(ConfigError, match=r"model\.gguf_file.*model\.name_or_path is null"):
        compose_valid_cfg(f"model.gguf_file={NAME}")


def test_a_gguf_directory_without_gguf_file_says_which_to_set(gguf_dir: Path):
    with pytest.raises(ConfigError, match=rf"model\.name_or_path.*config\.json.*set model\.gguf_file={NAME}"):
        compose_valid_cfg(f"model.name_or_path={gguf_dir}")
    with pytest.raises(ConfigError, match=rf"not a file. For a GGUF file: model\.name_or_path={gguf_dir} "
                                          rf"model\.gguf_file={NAME}"):
        compose_valid_cfg(f"model.name_or_path={gguf_dir / NAME}")


def test_the_cli_refuses_a_wrong_gguf_file_in_one_paragraph(gguf_dir: Path, tmp_path: Path):
    out = run_align(f"model.name_or_path={gguf_dir}", "model.gguf_file=nope.gguf", f"hydra.run.dir={tmp_path / 'r'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "Invalid value for model.gguf_file: 'nope.gguf'" in out.stderr and NAME in out.stderr
    assert not (tmp_path / "r").exists()


def test_a_missing_gguf_package_is_named_with_its_install(monkeypatch: pytest.MonkeyPatch):
    import importlib.metadata

    from align.model.gguf import require_gguf

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(EnvironmentProblem, match=r"model\.gguf_file .* gguf package .*pip install 'align\[gguf\]'"):
        require_gguf()
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.9.1")
    with pytest.raises(EnvironmentProblem, match=r"gguf 0\.9\.1 is installed"):
        require_gguf()


def test_a_converted_directory_is_keyed_by_its_gguf_file(tmp_path: Path):
    """The reference log-prob cache keys a converted directory by the GGUF file's hash, not its converted weights."""
    from align.model.gguf import MARKER
    from align.run.ref_cache import model_fingerprint

    converted = tmp_path / "converted"
    converted.mkdir()
    (converted / "model.safetensors").write_bytes(b"weights")
    (converted / MARKER).write_text(json.dumps({"gguf_file": "/x/a.gguf", "sha256": "ab" * 32, "format": 1}))
    assert model_fingerprint(str(converted)) == {"gguf": "ab" * 32, "conversion": 1}
    (converted / "model.safetensors").write_bytes(b"other bytes, same source")
    assert model_fingerprint(str(converted)) == {"gguf": "ab" * 32, "conversion": 1}
