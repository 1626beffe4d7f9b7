"""Helpers for the data tests: the real samples in ../shared/data (skipped when absent), HH rows, data configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from align.config.schema import DataSource, FileDataConfig, MixtureDataConfig
from tests.conftest import SHARED_DATA
from tests.methods.conftest import write_jsonl

__all__ = ["file_data", "hh_rows", "mixture_data", "shared", "write_jsonl"]


def shared(name: str) -> Path:
    """A real sample from ../shared/data; the test skips when the samples are not there."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: the real data samples live in ../shared/data beside the repository")
    return path


def file_data(path: Path | str, **values):
    """A `data=file` config node, as Hydra would compose it."""
    return OmegaConf.structured(FileDataConfig(path=str(path), **values))


def mixture_data(*sources: dict, **values):
    return OmegaConf.structured(MixtureDataConfig(sources=[DataSource(**s) for s in sources], **values))


def hh_rows(n: int, turns: int = 1) -> list[dict[str, str]]:
    """Anthropic-HH-format rows: `turns` Human/Assistant exchanges; the last answer differs (right vs off by one)."""
    rows = []
    for i in range(n):
        history = "".join(f"\n\nHuman: Hello {t}\n\nAssistant: Hi {t}." for t in range(turns - 1))
        question = f"{history}\n\nHuman: What is {i} + {i + 1}?\n\nAssistant: "
        rows.append({"chosen": f"{question}{2 * i + 1}", "rejected": f"{question}{2 * i + 2}"})
    return rows
