"""TRL's dataset formats, what each data kind accepts, and the one conversion between them (paired -> unpaired).

A method names the kind it trains on (`DATA_KIND`); rows of another kind stop the run before any model
loads, with the columns found and the ones needed.
"""

from __future__ import annotations

import logging
from typing import Any

from align.errors import DataError

log = logging.getLogger(__name__)

# format -> column sets that make it (TRL's standard and conversational formats), most specific first.
FORMATS: dict[str, list[tuple[str, ...]]] = {
    "preference": [("prompt", "chosen", "rejected"), ("chosen", "rejected")],
    "unpaired": [("prompt", "completion", "label")],
    "sft": [("prompt", "completion"), ("messages",)],
    "text": [("text",)],
    "prompt": [("prompt",)],
}

# data kind a method asks for -> formats it accepts as they are, or after conversion.
ACCEPTS: dict[str, list[str]] = {
    "sft": ["sft"],
    "preference": ["preference"],
    "unpaired": ["unpaired", "preference"],  # pairs become one desirable and one undesirable row
    "text": ["text"],
    # prompts to generate from (rejection sampling); a completion, if present, is the reference answer
    "prompt": ["prompt"],
}


def detect(columns: list[str]) -> str | None:
    """The first format whose columns are all present (a bare `prompt` only when nothing else fits), or None."""
    for name, column_sets in FORMATS.items():
        if any(set(needed) <= set(columns) for needed in column_sets):
            return name
    return None


def _describe(fmt: str) -> str:
    return f"{' / '.join(', '.join(c) for c in FORMATS[fmt])} ({fmt})"


def check(columns: list[str], kind: str, source: str, method: str | None = None) -> str:
    """The format of rows with `columns` if `kind` accepts it; else DataError naming found vs needed columns."""
    fmt = detect(columns)
    if fmt in ACCEPTS[kind] or (kind == "prompt" and "prompt" in columns):
        return fmt
    who = f"method {method!r}" if method else "this method"
    needed = " or ".join(_describe(f) for f in ACCEPTS[kind])
    found = f"{fmt} data" if fmt else "no known format"
    raise DataError(
        f"{source} has columns {', '.join(columns) or '(none)'} ({found}), but {who} trains on {kind} data "
        f"and needs the columns {needed}."
    )


def convert(dataset: Any, fmt: str, kind: str) -> Any:
    """Rows of format `fmt` as `kind` wants them: only the columns it uses, pairs unpaired for KTO."""
    if kind == "unpaired" and fmt == "preference":
        from trl.data_utils import unpair_preference_dataset

        log.info("Converting %d preference pairs to unpaired rows (chosen desirable, rejected not)", len(dataset))
        dataset = unpair_preference_dataset(dataset)
        fmt = "unpaired"
    if kind == "prompt":
        return dataset
    keep = next(c for c in FORMATS[fmt] if set(c) <= set(dataset.column_names))
    return dataset.select_columns(list(keep))
