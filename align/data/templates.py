"""Chat templates: the tokenizer's own, a named one (`model.chat_template=zephyr`), or a Jinja string.

A tokenizer without a template gets DEFAULT (the handbook's Zephyr template) and a warning, as the
handbook does. Named templates mark assistant turns with {% generation %} so TRL's
`assistant_only_loss` works with them; the markers render nothing.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# The alignment-handbook's DEFAULT_CHAT_TEMPLATE (Zephyr), with generation markers.
ZEPHYR = (
    "{% for message in messages %}\n"
    "{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n' }}{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}{{ '\n' }}"
    "{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n"
    "{{ '<|assistant|>' }}\n"
    "{% endif %}\n"
    "{% endfor %}"
)

# ChatML (<|im_start|>role ... <|im_end|>), as Qwen and OpenHermes use it.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

NAMED = {"zephyr": ZEPHYR, "chatml": CHATML}
DEFAULT = "zephyr"


def is_jinja(value: str) -> bool:
    return "{{" in value or "{%" in value


def problem(value: str | None) -> str | None:
    """Why `model.chat_template` cannot be used (for config validation), or None when it can."""
    if value is None or value in NAMED or is_jinja(value):
        return None
    return f"null (the tokenizer's own), a named template ({', '.join(NAMED)}) or a Jinja template string"


def apply(tokenizer: Any, value: str | None, source: str) -> None:
    """Set the tokenizer's chat template from `model.chat_template`; the default, with a warning, if it has none."""
    if value is not None:
        tokenizer.chat_template = NAMED.get(value, value)
    elif not getattr(tokenizer, "chat_template", None):
        log.warning(
            "The tokenizer of %s has no chat template; using align's default, the handbook's Zephyr template "
            "(<|user|> ... <|assistant|> ...). Set model.chat_template=<name or Jinja string> to choose another "
            "(names: %s).",
            source,
            ", ".join(NAMED),
        )
        tokenizer.chat_template = NAMED[DEFAULT]
