"""Per-row chat template arguments: a source's `chat_template_kwargs` column passes through conversion to every kind
whose trainer renders rows with it, is checked row by row, and reaches the rendered text, in the dry run's example
and in the rows TRL tokenizes (SFT with packing and assistant-only loss on the tiny model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from align.data import load
from align.data.preview import render
from align.errors import DataError
from tests.conftest import compose_cfg
from tests.data.conftest import file_data, mixture_data, write_jsonl

# A template for the tiny tokenizer that prints THINK in the assistant turn when the row's enable_thinking is true,
# with the turn inside {% generation %} for assistant_only_loss.
TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if m.role == 'user' -%}{{ '<|user|>\\n' + m.content + '<|end|>\\n' }}"
    "{%- else -%}{{ '<|assistant|>\\n' }}{% generation %}{% if enable_thinking %}{{ 'THINK ' }}{% endif %}"
    "{{ m.content + '<|end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- endif -%}"
)


def chat(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]


def kwargs_of(i: int) -> dict | None:
    """Rows 0, 3, 6, ... ask for thinking; 1, 4, ... ask not to; 2, 5, ... give no arguments (null)."""
    return [{"enable_thinking": True}, {"enable_thinking": False, "custom_instructions": None}, None][i % 3]


@pytest.fixture
def chats(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "chats.jsonl", [{"messages": chat(i), "chat_template_kwargs": kwargs_of(i),
                                                   "source": "test"} for i in range(12)])


def by_question(split) -> dict[str, dict]:
    return {row["messages"][0]["content"]: row["chat_template_kwargs"] for row in split}


def test_kwargs_pass_through_conversion_without_their_nulls(chats: Path):
    train = load(file_data(chats, test_split_size=0), "sft", "sft").splits["train"]
    assert train.column_names == ["messages", "chat_template_kwargs"]  # `source` is dropped, the kwargs are not
    kwargs = by_question(train)
    # a null value is left out, so the template's default applies; a null object is no arguments
    assert (kwargs["q0"], kwargs["q1"], kwargs["q2"]) == ({"enable_thinking": True}, {"enable_thinking": False}, {})


def test_smoltalk2_preference_rows_keep_their_kwargs_for_dpo_and_kto(tmp_path: Path):
    """SmolLM3's preference rows: a string prompt, chosen/rejected conversations that repeat it, and kwargs."""
    rows = [{"prompt": f"q{i}", "chosen": chat(i), "rejected": [chat(i)[0], {"role": "assistant", "content": "no"}],
             "chat_template_kwargs": kwargs_of(i)} for i in range(6)]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    pairs = load(file_data(path, test_split_size=0), "preference", "dpo").splits["train"]
    assert pairs.column_names == ["prompt", "chosen", "rejected", "chat_template_kwargs"]
    first = next(row for row in pairs if row["prompt"][0]["content"] == "q0")
    assert first["chosen"] == [{"role": "assistant", "content": "a0"}]
    assert first["chat_template_kwargs"] == {"enable_thinking": True}
    unpaired = load(file_data(path, test_split_size=0), "unpaired", "kto").splits["train"]
    assert len(unpaired) == 12 and {"enable_thinking": True} in unpaired["chat_template_kwargs"]
    prompts = load(file_data(path), "prompt").splits["train"]  # to generate from: align renders them without
    assert "chat_template_kwargs" not in prompts.column_names


def test_a_source_without_kwargs_mixes_with_one_that_has_them(chats: Path, tmp_path: Path):
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"messages": chat(100 + i)} for i in range(4)])
    mixed = load(mixture_data({"path": str(chats)}, {"path": str(plain)}, test_split_size=0), "sft").splits["train"]
    kwargs = by_question(mixed)
    assert len(mixed) == 16 and kwargs["q100"] == {} and kwargs["q0"] == {"enable_thinking": True}


@pytest.mark.parametrize("value", ['"think"', "[true]", "3"])
def test_kwargs_that_are_not_an_object_name_the_file_and_line(tmp_path: Path, value: str):
    path = tmp_path / "bad.jsonl"
    good = '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], '
    path.write_text(f'{good}"chat_template_kwargs": {{"enable_thinking": true}}}}\n'
                    f'{good}"chat_template_kwargs": {value}}}\n')
    with pytest.raises(DataError, match=r"bad.jsonl line 2 has 'chat_template_kwargs' = .*expected an object of "
                                        r"chat template arguments"):
        load(file_data(path), "sft", "sft")


def test_the_dry_run_renders_a_row_with_its_own_kwargs():
    from omegaconf import OmegaConf

    from align.config.schema import ModelConfig, TinyBuild
    from align.model.load import load_tokenizer

    tokenizer = load_tokenizer(OmegaConf.structured(ModelConfig(build=TinyBuild(), chat_template=TEMPLATE)))
    thinking = render({"messages": chat(0), "chat_template_kwargs": {"enable_thinking": True}}, tokenizer)
    plain = render({"messages": chat(1), "chat_template_kwargs": {}}, tokenizer)
    assert thinking == [("messages", "<|user|>\nq0<|end|>\n<|assistant|>\nTHINK a0<|end|>\n")]
    assert plain == [("messages", "<|user|>\nq1<|end|>\n<|assistant|>\na1<|end|>\n")]
    pair = {"prompt": chat(2)[:1], "chosen": chat(2)[1:], "rejected": chat(3)[1:],
            "chat_template_kwargs": {"enable_thinking": True}}
    assert all("THINK" in text for _, text in render(pair, tokenizer))


def packed_sft(chats: Path, tmp_path: Path):
    """The prepared run of SFT on `chats` with packing and assistant-only loss, and the template above."""
    from align.run.prepare import prepare

    overrides = ["data=file", f"data.path={chats}", "data.test_split_size=0", "method.packing=true",
                 "method.assistant_only_loss=true", "method.max_steps=2", "method.per_device_train_batch_size=2"]
    cfg = compose_cfg(*overrides)
    cfg.model.chat_template = TEMPLATE
    return prepare(cfg, tmp_path / "run", overrides)


def test_the_dry_run_example_shows_the_kwargs_of_its_row(chats: Path, tmp_path: Path):
    from align.plan.describe import describe

    plan = describe(packed_sft(chats, tmp_path), tmp_path / "run")
    example = plan.split("  example (train row 1, rendered with the chat template):\n", 1)[1]
    found = re.match(r"\s+messages:\s+<\|user\|>\s+q(\d+)<\|end\|>\s+<\|assistant\|>\s+(THINK )?a\1<\|end\|>", example)
    assert found is not None, example[:300]
    assert (found.group(2) is not None) == (int(found.group(1)) % 3 == 0)


def test_sft_with_packing_and_assistant_only_loss_renders_each_row_with_its_kwargs(chats: Path, tmp_path: Path):
    """TRL tokenizes each row with its own kwargs: the packed blocks, cut back into rows by seq_lengths, hold THINK
    (trained, in the assistant's span) exactly for the rows that asked for it. Then two steps train."""
    from align.run.trainer import build_trainer, trl_args

    prepared = packed_sft(chats, tmp_path)
    trainer = build_trainer(prepared, trl_args(prepared.cfg, prepared.method, tmp_path, on_cuda=False), on_cuda=False)
    tokenizer, blocks = trainer.processing_class, trainer.train_dataset
    assert {"input_ids", "labels", "seq_lengths"} <= set(blocks.column_names) and len(blocks) < 12  # packed
    seen = {}
    for block in blocks:
        start = 0
        for length in block["seq_lengths"]:
            ids, labels = block["input_ids"][start:start + length], block["labels"][start:start + length]
            start += length
            text = tokenizer.decode(ids)
            trained = tokenizer.decode([t for t, label in zip(ids, labels, strict=True) if label != -100])
            question = int(text.split("q", 1)[1].split("<|end|>", 1)[0])
            seen[question] = ("THINK" in text, "THINK" in trained, "q" in trained)
    assert sorted(seen) == list(range(12))
    for question, (in_text, in_trained, prompt_trained) in seen.items():
        assert in_text == in_trained == (question % 3 == 0), question
        assert not prompt_trained  # only the assistant's turn is trained
    result = trainer.train()
    assert result.global_step == 2 and result.training_loss > 0
