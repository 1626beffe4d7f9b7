"""Data for a run: the configured source loaded in the format the method trains on.

Formats are TRL's conversational ones: `sft` (prompt/completion or messages), `preference`
(prompt/chosen/rejected), `unpaired` (prompt/completion/label) and `text`; `prompt` asks for prompts
to generate from (formats.py). Sources: `arithmetic` (generated) and `file` (a JSON Lines file).
"""

from __future__ import annotations

from typing import Any

from align.errors import DataError


def load_for_method(data: Any, kind: str, method: str | None = None):
    """DatasetDict with `train` (and usually `test`) in format `kind`; DataError if the source cannot give it."""
    if data.name == "file":
        from align.data import file

        return file.load(data, kind, method)
    if data.name == "arithmetic":
        from align.data import arithmetic

        try:
            return arithmetic.load(data, kind)
        except ValueError as error:
            raise DataError(str(error)) from None
    raise DataError(f"Unknown data source data.name={data.name!r}; expected 'arithmetic' or 'file'.")


def exact_match_set(data: Any) -> list[tuple[list[dict[str, str]], str]] | None:
    """(prompt messages, answer) pairs with verifiable answers, or None when the source has none."""
    if data.name == "arithmetic" and data.num_exact_match > 0:
        from align.data import arithmetic

        return arithmetic.exact_match_set(data)
    return None
