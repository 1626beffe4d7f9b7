"""What the dry run shows about the data: each source's detected format, row counts after weighting, and one
training example rendered through the chat template as the trainer will see it."""

from __future__ import annotations

from typing import Any

from align.data.adapters import TEMPLATE_KWARGS
from align.errors import DataError

# Characters of a rendered example shown; the middle of a longer one is elided.
MAX_CHARS = 600


def describe(data: Any, loaded: Any, kind: str, tokenizer: Any) -> list[str]:
    """Lines about `loaded` (data.load's result for the data config `data`) in format `kind`."""
    train, test = loaded.splits["train"], loaded.splits.get("test")
    lines = counts(data, len(train), len(test) if test is not None else 0, kind, loaded.sources)
    lines.append("example (train row 1, rendered with the chat template):")
    for label, text in render(train[0], tokenizer):
        half = MAX_CHARS // 2  # a long example keeps its start and its end, where the template shows
        cut = f"{text[:half]} [... {len(text) - MAX_CHARS} characters ...] {text[-half:]}"
        shown = text if len(text) <= MAX_CHARS else cut
        lines.append(f"  {label}:")
        lines += [f"    {line}" for line in shown.splitlines() or [""]]
    return lines


def counts(data: Any, train: int, test: int, kind: str, reports: list, where: str = "") -> list[str]:
    """The data's line (`where` says where its counts come from, if not from the rows) and one line per source:
    its format and its rows after weighting."""
    from align.data.mixture import mixture_held_out

    lines = [f"data: {data.name}, {train:,} train / {test:,} test rows in {kind} format{where}"]
    for r in reports:
        weighted = f" x weight {r.weight:g}" if r.weight < 1 else ""
        if r.adapter is None:
            found = "format not known without its columns"
        else:
            found = f"{r.adapter.name} ({r.adapter.shape} data{'' if r.adapter.shape == kind else f', used as {kind}'})"
        lines.append(f"  {r.key}: {r.path}: {found}; {r.rows:,} rows{weighted} -> {r.train:,} train / {r.test:,} test")
    held = mixture_held_out(data) if "test_split_size" in data else 0
    if held:
        lines.append(f"  held out of the mixture for evaluation: {held:,} rows (data.test_split_size)")
    return lines


def render(row: dict[str, Any], tokenizer: Any) -> list[tuple[str, str]]:
    """(label, text) blocks of one row in any TRL format, conversations through the tokenizer's chat template with
    the row's own chat_template_kwargs, as TRL renders them."""
    if "text" in row:
        return [("text", row["text"])]
    kwargs = row.get(TEMPLATE_KWARGS) or {}
    if "messages" in row:
        return [("messages", _template(tokenizer, row["messages"], **kwargs))]
    prompt = row["prompt"]
    if "chosen" in row:
        return [(side, _template(tokenizer, prompt + row[side], **kwargs)) for side in ("chosen", "rejected")]
    if row.get("completion"):
        label = f"completion (label {str(row['label']).lower()})" if "label" in row else "prompt + completion"
        return [(label, _template(tokenizer, prompt + row["completion"], **kwargs))]
    return [("prompt", _template(tokenizer, prompt, add_generation_prompt=True, **kwargs))]


def _template(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False,
              **kwargs: Any) -> str:
    from jinja2 import TemplateError

    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                             **kwargs)
    except (TemplateError, ValueError) as error:
        raise DataError(
            f"The chat template cannot render the first training example: {error}. Choose another with "
            "model.chat_template=<name or Jinja string> (names: zephyr, chatml)."
        ) from None
