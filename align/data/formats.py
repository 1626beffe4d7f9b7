"""TRL's dataset formats, which of them each data kind accepts, and the conversions between them.

A method names the kind it trains on (`DATA_KIND`): `sft`, `preference`, `unpaired`, `text`, or `prompt`
(prompts to generate from). Adapters (adapters.py) turn rows into one of these formats; rows that cannot
become the method's kind stop the run before any model loads, with the columns found and the ones needed.
"""

from __future__ import annotations

import logging
from typing import Any

from align.errors import DataError

log = logging.getLogger(__name__)

# format -> column sets that make it (TRL's standard and conversational formats).
FORMATS: dict[str, list[tuple[str, ...]]] = {
    "preference": [("prompt", "chosen", "rejected"), ("chosen", "rejected")],
    "unpaired": [("prompt", "completion", "label")],
    "sft": [("prompt", "completion"), ("messages",)],
    "text": [("text",)],
    "prompt": [("prompt",)],
}

# Data kinds whose trainers render each row with its own `chat_template_kwargs` (TRL's SFT, DPO, KTO, reward, ORPO
# and CPO trainers read the column); raw text is not templated, and prompts to generate from drop it.
TEMPLATED_KINDS = ("sft", "preference", "unpaired")

# data kind a method asks for -> formats it accepts as they are, or after conversion.
ACCEPTS: dict[str, list[str]] = {
    "sft": ["sft", "preference"],  # a preference pair trains on its chosen conversation
    "preference": ["preference"],
    "unpaired": ["unpaired", "preference"],  # pairs become one desirable and one undesirable row
    "text": ["text"],
    # prompts to generate from (rejection sampling); a completion, if present, is the reference answer
    "prompt": ["prompt", "sft", "preference", "unpaired"],
}


def needed(kind: str) -> str:
    """The column sets of every row format that can become `kind` data, e.g. 'prompt, chosen, rejected; ...'."""
    from align.data.adapters import ADAPTERS

    names: dict[tuple[str, ...], list[str]] = {}
    for adapter in ADAPTERS:
        if adapter.shape in ACCEPTS[kind]:
            names.setdefault(adapter.columns, []).extend([adapter.name] if adapter.family != "trl" else [])
    return "; ".join(", ".join(c) + (f" ({' or '.join(n)})" if n else "") for c, n in names.items())


def mismatch(source: str, columns: list[str], found: str, kind: str, method: str | None) -> str:
    """One sentence: `source` has `columns` (`found`), which method `method` cannot train on as `kind` data."""
    who = f"method {method!r}" if method else "this method"
    return (
        f"{source} has columns {', '.join(columns) or '(none)'} ({found}), but {who} trains on {kind} data "
        f"and needs the columns of one of: {needed(kind)}"
    )


def check(columns: list[str], kind: str, source: str, method: str | None = None) -> str:
    """The TRL format of rows with `columns` if `kind` accepts it; else DataError naming found vs needed columns."""
    from align.data.adapters import detect

    adapter = detect(columns)
    if adapter is not None and adapter.shape in ACCEPTS[kind]:
        return adapter.shape
    found = f"{adapter.shape} data" if adapter else "no known format"
    raise DataError(mismatch(source, columns, found, kind, method) + ".")


def convert(dataset: Any, fmt: str, kind: str) -> Any:
    """Rows of format `fmt` as `kind` wants them: only the columns it uses (and the rows' chat template arguments
    where its trainer reads them), pairs unpaired for KTO, the chosen conversation of a pair for SFT, a
    conversation's last answer split off as a reference for prompts."""
    from align.data.adapters import TEMPLATE_KWARGS

    if fmt == "preference" and kind == "unpaired":
        from trl.data_utils import unpair_preference_dataset

        log.info("Converting %d preference pairs to unpaired rows (chosen desirable, rejected not)", len(dataset))
        dataset, fmt = unpair_preference_dataset(dataset), "unpaired"
    elif fmt == "preference" and kind == "sft":
        dataset, fmt = dataset.rename_column("chosen", "completion"), "sft"
    if kind == "prompt" and "messages" in dataset.column_names:
        dataset = dataset.map(_split_last_answer, remove_columns=["messages"], desc="Splitting off reference answers")
    if kind == "prompt":
        keep = ["prompt", "completion"] if fmt == "sft" else ["prompt"]  # a pair's chosen answer is no reference
        return dataset.select_columns([c for c in keep if c in dataset.column_names])
    columns = list(next(c for c in FORMATS[fmt] if set(c) <= set(dataset.column_names)))
    if kind in TEMPLATED_KINDS and TEMPLATE_KWARGS in dataset.column_names:
        columns.append(TEMPLATE_KWARGS)
    return dataset.select_columns(columns)


def _split_last_answer(row: dict[str, Any]) -> dict[str, Any]:
    messages = row["messages"]
    if len(messages) > 1 and messages[-1]["role"] == "assistant":
        return {"prompt": messages[:-1], "completion": messages[-1:]}
    return {"prompt": messages, "completion": []}


def as_messages(dataset: Any) -> Any:
    """prompt/completion SFT rows as one `messages` conversation (to mix them with conversation sources)."""
    if "messages" in dataset.column_names:
        return dataset
    return dataset.map(_join, remove_columns=["prompt", "completion"], desc="Joining prompt and completion")


def _join(row: dict[str, Any]) -> dict[str, Any]:
    return {"messages": row["prompt"] + row["completion"]}
