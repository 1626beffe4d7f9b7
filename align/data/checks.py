"""Data values checked at validation, without reading any data: counts, fractions, formats, paths, and the chat
template that will render the rows."""

from __future__ import annotations

import math
from typing import Any

from omegaconf import OmegaConf

from align.data import adapters, source_type, sources, templates
from align.data.formats import FORMATS
from align.errors import ConfigError, invalid


def check_data(data: Any, chat_template: str | None = None) -> None:
    """Raise a ConfigError naming the first data value (or model.chat_template) that cannot work."""
    expected = templates.problem(chat_template)
    if expected:
        raise invalid("model.chat_template", chat_template, expected)
    for key in ("num_train", "num_test"):
        if key in data and data[key] < 1:
            raise invalid(f"data.{key}", data[key], "a positive number of examples")
    if "max_operand" in data and data.max_operand < 1:
        raise invalid("data.max_operand", data.max_operand, "a positive integer")
    for op in data.get("operations", []):
        if op not in ("+", "-", "*"):
            raise invalid("data.operations", op, "operators among '+', '-', '*'")
    of_type = source_type(data)
    if of_type == "arithmetic":
        _check_problem_count(data)
    if of_type not in ("file", "mixture"):
        return
    size = data.test_split_size
    if not (0 <= size < 1 or (size >= 1 and float(size).is_integer())):
        raise invalid("data.test_split_size", size, "a fraction of each source's rows in [0, 1), e.g. 0.05, or a "
                      "whole number of rows held out of the whole mixture, e.g. 2000")
    if data.max_samples is not None and data.max_samples < 1:
        raise invalid("data.max_samples", data.max_samples, "a positive number of rows, or null for all")
    formats = ["auto", *adapters.FAMILIES, *(f for f in FORMATS if f != "prompt"), *sources.FILE_FORMATS]
    if of_type == "file":
        entries = [("data", data)]
        if data.path is None:
            raise invalid("data.path", None, "a local file or directory, e.g. data.path=data/alpaca_en_demo.json")
    else:
        entries = [(f"data.sources[{i}]", source) for i, source in enumerate(data.sources)]
        if not entries:
            raise invalid("data.sources", [], "a list of sources, e.g. 'data.sources=[{path: a.jsonl, weight: 0.5}]'")
    for key, source in entries:
        _check_source(key, source, formats, hub=of_type == "mixture")


def _check_problem_count(data: Any) -> None:
    """Enough distinct problems for both splits (method=evaluate reads the test split without loading the data)."""
    from align.data.arithmetic import split_problems

    try:
        split_problems(data)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _check_source(key: str, source: Any, formats: list[str], hub: bool) -> None:
    if OmegaConf.is_missing(source, "path") or source.path is None:
        raise invalid(f"{key}.path", None, "a Hub dataset id (org/name) or a local file or directory")
    if source.format not in formats:
        raise invalid(f"{key}.format", source.format, "one of " + ", ".join(formats))
    weight = source.get("weight", 1.0)
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and 0 < weight <= 1):
        raise invalid(
            f"{key}.weight",
            weight,
            "the fraction of the source's rows to use, in (0, 1]",
            "As in the handbook's dataset_mixer, 0.5 uses the first half of its rows and 1 all of them.",
        )
    problem = sources.path_problem(str(source.path), source.format, key, hub=hub)
    if problem:
        raise invalid(f"{key}.path", source.path, problem)
