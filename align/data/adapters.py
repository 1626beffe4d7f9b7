"""Format adapters: the row formats people bring, detected from the columns and converted row by row to
TRL's conversational formats (lists of {role, content} messages).

OpenAI `messages`, ShareGPT `conversations` (from/value), Alpaca instruction/input/output, Anthropic HH
`chosen`/`rejected` text, TRL's own prompt/completion/chosen/rejected/label columns (strings or messages)
and plain `text`. Pairwise forms become `preference` rows whose prompt is the shared opening of the two
conversations; a `label` column makes `unpaired` rows (KTO). A `chat_template_kwargs` column (per-row arguments of
the chat template, such as SmolLM3's `enable_thinking`) passes through beside the converted columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Bump when a conversion below changes: it is part of the `datasets` cache fingerprint.
VERSION = 3
# The column of per-row chat template arguments, which TRL's trainers spread into the template's render of that row.
TEMPLATE_KWARGS = "chat_template_kwargs"

# Roles as ShareGPT and OpenAI spell them -> the roles chat templates know.
ROLES = {
    "user": "user", "human": "user",
    "assistant": "assistant", "gpt": "assistant", "model": "assistant", "bot": "assistant", "chatgpt": "assistant",
    "system": "system", "developer": "system",
    "tool": "tool", "observation": "tool", "function": "tool", "function_call": "assistant",
}


class RowProblem(Exception):
    """A row that cannot be converted; the loader adds where the row is and what its format looks like."""


@dataclass(frozen=True)
class Adapter:
    name: str  # shown to users
    family: str  # the data.format value that selects it
    shape: str  # TRL format of its rows: sft, preference, unpaired, text or prompt
    columns: tuple[str, ...]  # needed to detect it
    output: tuple[str, ...]  # columns of the converted rows
    example: str  # one row, for error messages and docs

    def describe(self) -> str:
        """'ShareGPT pairwise (conversations, chosen, rejected)'; TRL's own formats are named by their columns."""
        return self.name if self.family == "trl" and "/" in self.name else f"{self.name} ({', '.join(self.columns)})"


_SHAREGPT = '[{"from": "human", "value": "Hi"}]'
# Most specific first: the first adapter whose columns are all present wins.
ADAPTERS = [
    Adapter("ShareGPT pairwise", "sharegpt", "preference", ("conversations", "chosen", "rejected"),
            ("prompt", "chosen", "rejected"),
            f'{{"conversations": {_SHAREGPT}, "chosen": {{"from": "gpt", "value": "Hello!"}}, '
            '"rejected": {"from": "gpt", "value": "Go away."}}'),
    Adapter("Alpaca pairwise", "alpaca", "preference", ("instruction", "chosen", "rejected"),
            ("prompt", "chosen", "rejected"),
            '{"instruction": "Say hi", "input": "", "chosen": "Hello!", "rejected": "Go away."}'),
    Adapter("prompt/chosen/rejected", "trl", "preference", ("prompt", "chosen", "rejected"),
            ("prompt", "chosen", "rejected"),
            '{"prompt": "Say hi", "chosen": "Hello!", "rejected": "Go away."} (strings or message lists)'),
    Adapter("Anthropic HH", "hh", "preference", ("chosen", "rejected"), ("prompt", "chosen", "rejected"),
            '{"chosen": "\\n\\nHuman: Say hi\\n\\nAssistant: Hello!", '
            '"rejected": "\\n\\nHuman: Say hi\\n\\nAssistant: Go away."}'),
    Adapter("chosen/rejected conversations", "trl", "preference", ("chosen", "rejected"),
            ("prompt", "chosen", "rejected"),
            '{"chosen": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hello!"}], '
            '"rejected": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Go away."}]}'),
    Adapter("ShareGPT with label", "sharegpt", "unpaired", ("conversations", "label"),
            ("prompt", "completion", "label"),
            '{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}], "label": true}'),
    Adapter("messages with label", "messages", "unpaired", ("messages", "label"), ("prompt", "completion", "label"),
            '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], '
            '"label": true}'),
    Adapter("Alpaca with label", "alpaca", "unpaired", ("instruction", "output", "label"),
            ("prompt", "completion", "label"),
            '{"instruction": "Say hi", "input": "", "output": "Hello!", "label": true}'),
    Adapter("prompt/completion/label", "trl", "unpaired", ("prompt", "completion", "label"),
            ("prompt", "completion", "label"), '{"prompt": "Say hi", "completion": "Hello!", "label": true}'),
    Adapter("ShareGPT", "sharegpt", "sft", ("conversations",), ("messages",),
            '{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}'),
    Adapter("OpenAI messages", "messages", "sft", ("messages",), ("messages",),
            '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}'),
    Adapter("Alpaca", "alpaca", "sft", ("instruction", "output"), ("prompt", "completion"),
            '{"instruction": "Say hi", "input": "", "output": "Hello!"}'),
    Adapter("prompt/completion", "trl", "sft", ("prompt", "completion"), ("prompt", "completion"),
            '{"prompt": "Say hi", "completion": "Hello!"} (strings or message lists)'),
    Adapter("text", "trl", "text", ("text",), ("text",), '{"text": "Plain text to continue pretraining on."}'),
    Adapter("prompt", "trl", "prompt", ("prompt",), ("prompt",), '{"prompt": "Say hi"}'),
]
BY_NAME = {a.name: a for a in ADAPTERS}
FAMILIES = ("messages", "sharegpt", "alpaca", "hh", "trl")


def detect(columns: list[str], first_row: dict[str, Any] | None = None, forced: str = "auto") -> Adapter | None:
    """The first adapter (of the forced family or TRL format, if any) whose columns are all present, or None.

    chosen/rejected strings without a prompt are Anthropic HH text; message lists are conversations.
    """
    for adapter in ADAPTERS:
        if forced not in ("auto", adapter.family, adapter.shape) or not set(adapter.columns) <= set(columns):
            continue
        if adapter.family == "hh" and forced != "hh" and not isinstance((first_row or {}).get("chosen"), str):
            continue
        return adapter
    return None


def convert(row: dict[str, Any], adapter: Adapter) -> dict[str, Any]:
    """The row in the adapter's TRL format; RowProblem says what is wrong with it."""
    return _CONVERTERS[adapter.name](row)


def convert_batch(batch: dict[str, list], indices: list[int], adapter: str, version: int) -> dict[str, list]:
    """`datasets.map` function (batched, with indices): raises RowProblem with the 0-based row index as args[1]."""
    spec = BY_NAME[adapter]
    columns = [*spec.output, *([TEMPLATE_KWARGS] if TEMPLATE_KWARGS in batch else [])]
    out: dict[str, list] = {column: [] for column in columns}
    for i, index in enumerate(indices):
        given = {key: values[i] for key, values in batch.items()}
        try:
            row = convert(given, spec)
            if TEMPLATE_KWARGS in batch:
                row[TEMPLATE_KWARGS] = template_kwargs(given)
        except RowProblem as problem:
            raise RowProblem(str(problem), index) from None
        for column in columns:
            out[column].append(row[column])
    return out


def template_kwargs(row: dict[str, Any]) -> dict[str, Any]:
    """A row's chat template arguments: its `chat_template_kwargs` object without its null values, so that the
    template's own default applies to what a row leaves out (a struct column gives every row every key, null
    where it had none); null is no arguments. TRL spreads the object into the template's render of that row."""
    value = row.get(TEMPLATE_KWARGS)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RowProblem(
            f"has {TEMPLATE_KWARGS!r} = {str(value)[:60]!r}; expected an object of chat template arguments, "
            'e.g. {"enable_thinking": false}, or null'
        )
    return {str(key): item for key, item in value.items() if item is not None}


# ------------------------------------------------------------------------------------------ messages


def _value(row: dict[str, Any], field: str) -> Any:
    value = row.get(field)
    if value is None:
        raise RowProblem(f"has no {field!r} (missing or null)")
    if isinstance(value, str) and not value.strip():
        raise RowProblem(f"has an empty {field!r}; expected text to train on")
    return value


def _first(message: dict[str, Any], *keys: str) -> Any:
    # Arrow gives every message every key seen in the file (None where absent), so skip the Nones.
    return next((message[k] for k in keys if message.get(k) is not None), None)


def messages(row: dict[str, Any], field: str, role: str) -> list[dict[str, str]]:
    """`row[field]` as messages: a string is one `role` message; {role, content} or {from, value} dicts, alone
    or in a list, keep their roles (ShareGPT's human/gpt become user/assistant)."""
    value = _value(row, field)
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not items:
        raise RowProblem(f"has {field!r} = {str(value)[:60]!r}; expected a string or a non-empty list of messages")
    out = []
    for number, item in enumerate(items, start=1):
        speaker = _first(item, "role", "from") if isinstance(item, dict) else None
        content = _first(item, "content", "value") if isinstance(item, dict) else None
        if speaker is None or not isinstance(content, str):
            raise RowProblem(
                f"has message {number} of {field!r} = {str(item)[:80]!r}; expected {{role, content}} or "
                "{from, value} with string content"
            )
        if str(speaker).lower() not in ROLES:
            raise RowProblem(
                f"has message {number} of {field!r} with role {speaker!r}; expected one of {', '.join(ROLES)}"
            )
        out.append({"role": ROLES[str(speaker).lower()], "content": content})
    return out


def _string(row: dict[str, Any], field: str) -> str:
    value = _value(row, field)
    if not isinstance(value, str):
        raise RowProblem(f"has {field!r} = {str(value)[:60]!r}; expected a string")
    return value


def _system(row: dict[str, Any]) -> list[dict[str, str]]:
    """A `system` column (ShareGPT and Alpaca files may have one) as a leading system message."""
    value = row.get("system")
    return [{"role": "system", "content": value}] if isinstance(value, str) and value else []


def _label(row: dict[str, Any]) -> bool:
    value = _value(row, "label")
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise RowProblem(f"has label = {value!r}; expected true or false")


def split_pair(prompt: list, chosen: list, rejected: list) -> dict[str, list]:
    """prompt/chosen/rejected with the two conversations' shared opening moved into the prompt.

    Works whether chosen/rejected hold only the answers (a prompt given apart) or whole conversations
    (HH text, ultrafeedback's message lists); at least one message stays on each side.
    """
    full_chosen, full_rejected = prompt + chosen, prompt + rejected
    shared = 0
    for a, b in zip(full_chosen, full_rejected, strict=False):
        if a != b:
            break
        shared += 1
    shared = min(shared, len(full_chosen) - 1, len(full_rejected) - 1)
    if shared == 0:
        raise RowProblem(
            "has chosen and rejected conversations that share no opening turn, so there is no prompt; give a "
            "prompt column, or conversations that start with the same user turn"
        )
    return {"prompt": full_chosen[:shared], "chosen": full_chosen[shared:], "rejected": full_rejected[shared:]}


def _last_answer(conversation: list[dict[str, str]], field: str) -> dict[str, list]:
    """A conversation as prompt (all but the last message) and completion (the last, an assistant's)."""
    if len(conversation) < 2 or conversation[-1]["role"] != "assistant":
        raise RowProblem(f"has {field!r} that does not end with an assistant message after a prompt")
    return {"prompt": conversation[:-1], "completion": conversation[-1:]}


_HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):[ \t]?")


def hh_messages(row: dict[str, Any], field: str) -> list[dict[str, str]]:
    """Anthropic HH text ("\\n\\nHuman: ...\\n\\nAssistant: ...") as user/assistant messages."""
    parts = _HH_TURN.split(_string(row, field))
    if len(parts) < 3 or parts[0].strip():
        raise RowProblem(
            f"has {field!r} that is not Anthropic HH text: expected turns starting with '\\n\\nHuman:' and "
            "'\\n\\nAssistant:'"
        )
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[who], "content": text.strip()} for who, text in zip(parts[1::2], parts[2::2], strict=True)]


# ---------------------------------------------------------------------------------------- converters


def _alpaca_prompt(row: dict[str, Any]) -> list[dict[str, str]]:
    instruction, extra = _string(row, "instruction"), row.get("input") or ""
    return _system(row) + [{"role": "user", "content": f"{instruction}\n{extra}" if extra else instruction}]


def _answer(row: dict[str, Any], field: str) -> list[dict[str, str]]:
    return messages(row, field, "assistant")


def _sharegpt(row: dict[str, Any]) -> list[dict[str, str]]:
    return _system(row) + messages(row, "conversations", "user")


def _sharegpt_chat(row):
    return {"messages": _sharegpt(row)}


def _openai_chat(row):
    return {"messages": messages(row, "messages", "user")}


def _sharegpt_pair(row):
    return split_pair(_sharegpt(row), _answer(row, "chosen"), _answer(row, "rejected"))


def _alpaca_pair(row):
    return split_pair(_alpaca_prompt(row), _answer(row, "chosen"), _answer(row, "rejected"))


def _trl_pair(row):
    chosen, rejected = _answer(row, "chosen"), _answer(row, "rejected")
    # chosen/rejected that are whole conversations (ultrafeedback_binarized) already hold the prompt
    prompt = [] if chosen[0]["role"] != "assistant" else messages(row, "prompt", "user")
    return split_pair(prompt, chosen, rejected)


def _hh_pair(row):
    return split_pair([], hh_messages(row, "chosen"), hh_messages(row, "rejected"))


def _implicit_pair(row):
    return split_pair([], _answer(row, "chosen"), _answer(row, "rejected"))


def _prompt_completion(row):
    return {"prompt": messages(row, "prompt", "user"), "completion": _answer(row, "completion")}


def _alpaca(row):
    return {"prompt": _alpaca_prompt(row), "completion": [{"role": "assistant", "content": _string(row, "output")}]}


def _labelled(convert_sft, field: str | None = None):
    def convert_row(row):
        pair = convert_sft(row)
        if field is not None:
            pair = _last_answer(pair["messages"], field)
        return {**pair, "label": _label(row)}

    return convert_row


_CONVERTERS = {
    "ShareGPT pairwise": _sharegpt_pair,
    "Alpaca pairwise": _alpaca_pair,
    "prompt/chosen/rejected": _trl_pair,
    "Anthropic HH": _hh_pair,
    "chosen/rejected conversations": _implicit_pair,
    "ShareGPT with label": _labelled(_sharegpt_chat, "conversations"),
    "messages with label": _labelled(_openai_chat, "messages"),
    "Alpaca with label": _labelled(_alpaca),
    "prompt/completion/label": _labelled(_prompt_completion),
    "ShareGPT": _sharegpt_chat,
    "OpenAI messages": _openai_chat,
    "Alpaca": _alpaca,
    "prompt/completion": _prompt_completion,
    "text": lambda row: {"text": _string(row, "text")},
    "prompt": lambda row: {"prompt": messages(row, "prompt", "user")},
}
