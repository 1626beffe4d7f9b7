"""Chat templates: the tokenizer's own by default, a named one or a Jinja string from model.chat_template, and
the handbook's Zephyr template with a warning for a tokenizer that has none."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from align.config.schema import ModelConfig, TinyBuild
from align.data import templates
from align.model.load import load_tokenizer, model_path

CHAT = [{"role": "user", "content": "What is 1 + 1?"}, {"role": "assistant", "content": "2"}]


def tokenizer_for(chat_template: str | None = None, name_or_path: str | None = None):
    build = TinyBuild() if name_or_path is None else None
    return load_tokenizer(OmegaConf.structured(ModelConfig(name_or_path=name_or_path, build=build,
                                                           chat_template=chat_template)))


@pytest.fixture(scope="module")
def no_template_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's files without its chat template (a base model, as gpt2 is)."""
    tiny = Path(model_path(OmegaConf.structured(ModelConfig(build=TinyBuild()))))
    target = tmp_path_factory.mktemp("base") / "model"
    shutil.copytree(tiny, target)
    (target / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((target / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (target / "tokenizer_config.json").write_text(json.dumps(config))
    return target


def test_the_tokenizers_own_template_is_kept():
    from align.model.tiny import CHAT_TEMPLATE

    assert tokenizer_for().chat_template == CHAT_TEMPLATE


# alignment-handbook's DEFAULT_CHAT_TEMPLATE, verbatim
HANDBOOK_ZEPHYR = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"  # noqa: E501


def test_zephyr_renders_as_the_handbooks_template():
    ours, theirs = tokenizer_for("zephyr"), tokenizer_for(HANDBOOK_ZEPHYR)
    system = [{"role": "system", "content": "Be brief."}]
    for chat, prompt in ((CHAT, False), (system + CHAT[:1], True), (system + CHAT + CHAT, False)):
        rendered = ours.apply_chat_template(chat, tokenize=False, add_generation_prompt=prompt)
        assert rendered == theirs.apply_chat_template(chat, tokenize=False, add_generation_prompt=prompt)
    expected = "<|user|>\nWhat is 1 + 1?<|end|>\n<|assistant|>\n2<|end|>\n"
    assert ours.apply_chat_template(CHAT, tokenize=False) == expected


def test_named_and_jinja_templates_override_it():
    chatml = tokenizer_for("chatml").apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert chatml.startswith("<|im_start|>user\nWhat is 1 + 1?<|im_end|>\n") and chatml.endswith("assistant\n")
    jinja = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }} {% endfor %}"
    assert tokenizer_for(jinja).apply_chat_template(CHAT, tokenize=False) == "[user] What is 1 + 1? [assistant] 2 "


@pytest.mark.parametrize("name", sorted(templates.NAMED))
def test_named_templates_mark_assistant_tokens_for_assistant_only_loss(name: str):
    out = tokenizer_for(name).apply_chat_template(CHAT, return_dict=True, return_assistant_tokens_mask=True)
    assert 0 < sum(out["assistant_masks"]) < len(out["input_ids"])


def test_a_tokenizer_without_a_template_gets_zephyr_and_a_warning(no_template_model: Path, caplog):
    with caplog.at_level(logging.WARNING, logger="align.data.templates"):
        tokenizer = tokenizer_for(name_or_path=str(no_template_model))
    assert tokenizer.chat_template == templates.ZEPHYR
    assert "has no chat template; using align's default, the handbook's Zephyr template" in caplog.text
    assert "model.chat_template" in caplog.text
