"""Data for a run: the configured source loaded in the format the method trains on.

Formats are TRL's conversational ones: `sft` (prompt/completion or messages), `preference`
(prompt/chosen/rejected), `unpaired` (prompt/completion/label) and `text`; `prompt` asks for prompts
to generate from (formats.py). Sources: `arithmetic` (generated), `file` (a local file or directory) and
`mixture` (weighted Hub or local sources, mixture.py); rows in other formats are adapted (adapters.py).
"""

from __future__ import annotations

from typing import Any

from align.errors import DataError


def source_type(data: Any) -> str:
    """`mixture`, `file` or `arithmetic`, from the config's fields: named data options (a recipe's
    `ultrafeedback_binarized`) extend base_mixture or base_file under their own name."""
    if "sources" in data:
        return "mixture"
    return "file" if "path" in data else data.name


def load(data: Any, kind: str, method: str | None = None):
    """The source's splits (`train`, usually `test`) in format `kind`, with what each source gave (mixture.Mixed);
    DataError if the source cannot give them. The values were checked by validation (data/checks.py)."""
    from align.data import mixture

    if source_type(data) in ("file", "mixture"):
        return mixture.load(data, kind, method)
    if source_type(data) == "arithmetic":
        from align.data import arithmetic

        try:
            return mixture.Mixed(arithmetic.load(data, kind))
        except ValueError as error:
            raise DataError(str(error)) from None
    raise DataError(f"Unknown data source data.name={data.name!r}; expected 'arithmetic', 'file' or 'mixture'.")


def exact_match_set(data: Any) -> list[tuple[list[dict[str, str]], str]] | None:
    """(prompt messages, answer) pairs with verifiable answers, or None when the source has none."""
    if source_type(data) == "arithmetic" and data.num_exact_match > 0:
        from align.data import arithmetic

        return arithmetic.exact_match_set(data)
    return None
