"""Format adapters: the formats people bring, detected from the columns, become TRL's conversational formats
for the method at hand (on the real samples in ../shared/data where they exist)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align import data
from align.errors import DataError
from tests.data.conftest import file_data, hh_rows, shared, write_jsonl


def train_rows(path: Path, kind: str, **values):
    return data.load(file_data(path, test_split_size=0.0, **values), kind, "test").splits["train"]


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def test_alpaca_becomes_prompt_completion():
    path = shared("alpaca_en_demo.json")
    raw = json.loads(path.read_text())
    rows = train_rows(path, "sft", seed=1)
    assert len(rows) == len(raw) == 999 and rows.column_names == ["prompt", "completion"]
    by_answer = {row["completion"][0]["content"]: row for row in rows}
    with_input = next(r for r in raw if r["input"])
    converted = by_answer[with_input["output"]]
    assert converted["prompt"] == [user(f"{with_input['instruction']}\n{with_input['input']}")]
    assert converted["completion"] == [assistant(with_input["output"])]


def test_sharegpt_pairwise_prompt_is_the_conversation():
    path = shared("dpo_en_demo.json")
    raw = json.loads(path.read_text())
    rows = train_rows(path, "preference")
    assert len(rows) == 300 and rows.column_names == ["prompt", "chosen", "rejected"]
    first = next(r for r in rows if r["chosen"][0]["content"] == raw[0]["chosen"]["value"])
    assert first["prompt"] == [user(m["value"]) for m in raw[0]["conversations"]]
    assert first["rejected"] == [assistant(raw[0]["rejected"]["value"])]
    assert {m["role"] for r in rows for m in r["prompt"]} <= {"system", "user", "assistant"}


def test_sft_on_a_preference_source_trains_on_the_chosen_conversation():
    path = shared("dpo_en_demo.json")
    raw = json.loads(path.read_text())[0]
    rows = train_rows(path, "sft")
    assert rows.column_names == ["prompt", "completion"]
    match = next(r for r in rows if r["completion"][0]["content"] == raw["chosen"]["value"])
    assert match["prompt"][-1] == user(raw["conversations"][-1]["value"])


def test_kto_messages_with_labels_become_unpaired_rows():
    rows = train_rows(shared("kto_en_demo.json"), "unpaired")
    assert rows.column_names == ["prompt", "completion", "label"] and len(rows) == 300
    assert set(rows["label"]) == {True, False}
    assert all(r["prompt"][-1]["role"] == "user" and r["completion"][0]["role"] == "assistant" for r in rows)


def test_preference_pairs_become_unpaired_rows_for_kto():
    rows = train_rows(shared("dpo_en_demo.json"), "unpaired")
    assert len(rows) == 600 and sum(rows["label"]) == 300


def test_c4_text_for_continued_pretraining():
    rows = train_rows(shared("c4_demo.jsonl"), "text")
    assert rows.column_names == ["text"] and len(rows) == 300 and all(len(t) > 0 for t in rows["text"])


def test_hh_shared_prefix_is_the_prompt(tmp_path: Path):
    rows = train_rows(write_jsonl(tmp_path / "hh.jsonl", hh_rows(4, turns=2)), "preference", seed=0)
    row = next(r for r in rows if "What is 0 + 1?" in r["prompt"][-1]["content"])
    assert row["prompt"] == [user("Hello 0"), assistant("Hi 0."), user("What is 0 + 1?")]
    assert (row["chosen"], row["rejected"]) == ([assistant("1")], [assistant("2")])


def test_prompt_chosen_rejected_as_strings_or_whole_conversations(tmp_path: Path):
    strings = {"prompt": "Say hi", "chosen": "Hello!", "rejected": "Go away."}
    # ultrafeedback_binarized: chosen/rejected hold the whole conversation, the prompt column repeats its start
    whole = {"prompt": "Say hi", "chosen": [user("Say hi"), assistant("Hello!")],
             "rejected": [user("Say hi"), assistant("Go away.")], "score_chosen": 8.0}
    for row in (strings, whole):
        got = train_rows(write_jsonl(tmp_path / "pairs.jsonl", [row]), "preference")[0]
        assert got == {"prompt": [user("Say hi")], "chosen": [assistant("Hello!")], "rejected": [assistant("Go away.")]}


def test_sharegpt_and_openai_conversations_for_sft(tmp_path: Path):
    sharegpt = {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"},
                                  {"from": "gpt", "value": "Hello!"}]}
    openai = {"messages": [{"role": "system", "content": "Be brief."}, user("Hi"), assistant("Hello!")]}
    for row in (sharegpt, openai):
        got = train_rows(write_jsonl(tmp_path / "chat.jsonl", [row]), "sft")
        assert got.column_names == ["messages"]
        assert got[0]["messages"] == [{"role": "system", "content": "Be brief."}, user("Hi"), assistant("Hello!")]


def test_alpaca_pairwise_and_labelled_forms(tmp_path: Path):
    pair = {"instruction": "Say hi", "input": "", "chosen": "Hello!", "rejected": "Go away."}
    assert train_rows(write_jsonl(tmp_path / "p.jsonl", [pair]), "preference")[0]["prompt"] == [user("Say hi")]
    labelled = {"instruction": "Say hi", "output": "Go away.", "label": False}
    assert train_rows(write_jsonl(tmp_path / "u.jsonl", [labelled]), "unpaired")[0]["label"] is False


def test_format_forces_the_adapter(tmp_path: Path):
    path = write_jsonl(tmp_path / "both.jsonl", [{"instruction": "Say hi", "output": "Hello!", "text": "raw"}] * 2)
    assert train_rows(path, "sft").column_names == ["prompt", "completion"]  # detected: Alpaca
    assert train_rows(path, "text", format="text")["text"] == ["raw", "raw"]
    with pytest.raises(DataError, match="not the columns of data.format=sharegpt"):
        train_rows(path, "sft", format="sharegpt")


def test_prompts_for_sampling_keep_the_reference_answer(tmp_path: Path):
    rows = train_rows(write_jsonl(tmp_path / "chat.jsonl", [{"messages": [user("1+1?"), assistant("2")]}]), "prompt")
    assert rows[0] == {"prompt": [user("1+1?")], "completion": [assistant("2")]}


HH_ROW = hh_rows(1)[0]
CHAT = [user("x"), assistant("y")]


@pytest.mark.parametrize(
    ("good", "bad", "kind", "match"),
    [
        ({"prompt": "a", "chosen": "b", "rejected": "c"}, {"prompt": "a", "chosen": "b"}, "preference",
         r"rows\.jsonl line 3 has no 'rejected' \(missing or null\)\. The format of this source is "
         r"prompt/chosen/rejected; a row looks like \{\"prompt\""),
        ({"messages": CHAT}, {"messages": [{"role": "narrator", "content": "x"}]}, "sft",
         "line 3 has message 1 of 'messages' with role 'narrator'; expected one of user"),
        ({"messages": CHAT, "label": 0}, {"messages": CHAT, "label": 2}, "unpaired",
         "line 3 has label = 2; expected true or false"),
        ({"messages": CHAT, "label": True}, {"messages": [user("x")], "label": True}, "unpaired",
         "line 3 has 'messages' that does not end with an assistant message"),
        (HH_ROW, {**HH_ROW, "chosen": "no turns here"}, "preference",
         r"line 3 has 'chosen' that is not Anthropic HH text.*Anthropic HH \(chosen, rejected\)"),
        ({"chosen": CHAT, "rejected": CHAT}, {"chosen": CHAT, "rejected": [user("z"), assistant("y")]}, "preference",
         "line 3 has chosen and rejected conversations that share no opening turn"),
        ({"conversations": [{"from": "human", "value": "x"}]}, {"conversations": [{"from": "human"}]}, "sft",
         "line 3 has message 1 of 'conversations' = .*; expected {role, content} or {from, value}"),
    ],
)
def test_a_bad_row_is_named_by_line_and_field(tmp_path: Path, good: dict, bad: dict, kind: str, match: str):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")  # after a blank line: row 2 is on line 3
    with pytest.raises(DataError, match=match):
        train_rows(path, kind)
