"""Mixtures: each source's weight is the fraction of its rows used (its first rows, as the handbook's
dataset_mixer), test rows come from test_split or are held out per source, formats are reconciled, and the
result is cached by `datasets` so a second run reuses the formatting."""

from __future__ import annotations

from pathlib import Path

import pytest

from align.data import load
from align.errors import DataError
from tests.data.conftest import hh_rows, mixture_data, shared, write_jsonl


def sft_rows(n: int, tag: str) -> list[dict]:
    return [{"prompt": f"{tag} {i}", "completion": f"{tag} answer {i}"} for i in range(n)]


def test_weights_take_the_first_fraction_of_each_source(tmp_path: Path):
    a = write_jsonl(tmp_path / "a.jsonl", sft_rows(40, "a"))
    b = write_jsonl(tmp_path / "b.jsonl", sft_rows(20, "b"))
    data = mixture_data({"path": str(a), "weight": 0.5}, {"path": str(b), "weight": 1.0}, test_split_size=0.1)
    mixed = load(data, "sft", "sft")
    counts = [(r.rows, r.train, r.test) for r in mixed.sources]
    assert counts == [(40, 18, 2), (20, 18, 2)]
    prompts = {row[0]["content"] for split in ("train", "test") for row in mixed.splits[split]["prompt"]}
    assert prompts == {f"a {i}" for i in range(20)} | {f"b {i}" for i in range(20)}


def test_max_samples_caps_the_shuffled_mixture(tmp_path: Path):
    a = write_jsonl(tmp_path / "a.jsonl", sft_rows(40, "a"))
    b = write_jsonl(tmp_path / "b.jsonl", sft_rows(40, "b"))
    data = load(mixture_data({"path": str(a)}, {"path": str(b)}, test_split_size=0.0, max_samples=10), "sft").splits
    sources = {row[0]["content"].split()[0] for row in data["train"]["prompt"]}
    assert len(data["train"]) == 10 and sources == {"a", "b"}


def test_test_split_comes_from_the_named_split(tmp_path: Path):
    (tmp_path / "d").mkdir()
    write_jsonl(tmp_path / "d" / "train.jsonl", sft_rows(10, "train"))
    write_jsonl(tmp_path / "d" / "test.jsonl", sft_rows(3, "test"))
    data = mixture_data({"path": str(tmp_path / "d"), "weight": 0.5, "test_split": "test"})
    mixed = load(data, "sft")
    assert (len(mixed.splits["train"]), len(mixed.splits["test"])) == (5, 3)  # test rows are not weighted


def test_conversations_and_prompt_completion_pairs_mix_as_conversations(tmp_path: Path):
    chat = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}] * 4
    a = write_jsonl(tmp_path / "chat.jsonl", chat)
    b = write_jsonl(tmp_path / "pairs.jsonl", sft_rows(4, "b"))
    train = load(mixture_data({"path": str(a)}, {"path": str(b)}, test_split_size=0.0), "sft").splits["train"]
    assert train.column_names == ["messages"] and len(train) == 8
    assert {"role": "user", "content": "b 0"} in [m for row in train["messages"] for m in row]


def test_real_samples_mix_for_dpo_with_an_hh_file(tmp_path: Path):
    hh = write_jsonl(tmp_path / "hh.jsonl", hh_rows(20))
    data = mixture_data({"path": str(shared("dpo_en_demo.json")), "weight": 0.1}, {"path": str(hh), "weight": 0.5},
                        test_split_size=0.0)
    mixed = load(data, "preference", "dpo")
    assert [(r.adapter.name, r.train) for r in mixed.sources] == [("ShareGPT pairwise", 30), ("Anthropic HH", 10)]
    assert mixed.splits["train"].column_names == ["prompt", "chosen", "rejected"] and len(mixed.splits["train"]) == 40


def test_sources_that_cannot_be_reconciled_are_listed_in_one_paragraph(tmp_path: Path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", hh_rows(4))
    text = write_jsonl(tmp_path / "text.jsonl", [{"text": "raw"}] * 4)
    with pytest.raises(DataError) as caught:
        load(mixture_data({"path": str(pairs)}, {"path": str(text)}), "preference", "dpo")
    message = str(caught.value)
    assert message.startswith("The sources of data=mixture cannot be reconciled into the preference data that "
                              "method 'dpo' trains on:")
    assert "data.sources[0].path=" in message and "(Anthropic HH, preference data);" in message
    assert "data.sources[1].path=" in message and "(text, text data), which cannot become preference data" in message
    assert "\n" not in message


def test_formatting_is_cached_and_reused(tmp_path: Path):
    path = write_jsonl(tmp_path / "pairs.jsonl", hh_rows(30))
    data = mixture_data({"path": str(path), "weight": 0.5})
    first, second = (load(data, "preference").splits["train"] for _ in range(2))
    assert first.cache_files and first._fingerprint == second._fingerprint
    assert {f["filename"] for f in first.cache_files} == {f["filename"] for f in second.cache_files}


def test_a_whole_number_test_split_size_holds_out_that_many_rows_of_the_mixture(tmp_path: Path):
    """The handbook's `test_split_size: 2000`: rows of the shuffled mixture, not a fraction of each source."""
    a = write_jsonl(tmp_path / "a.jsonl", sft_rows(30, "a"))
    b = write_jsonl(tmp_path / "b.jsonl", sft_rows(10, "b"))
    mixed = load(mixture_data({"path": str(a)}, {"path": str(b)}, test_split_size=7), "sft")
    assert (len(mixed.splits["train"]), len(mixed.splits["test"])) == (33, 7)
    assert [(r.train, r.test) for r in mixed.sources] == [(30, 0), (10, 0)]
    with pytest.raises(DataError, match="holds out 40 rows of the mixture, but it has only 40 train rows"):
        load(mixture_data({"path": str(a)}, {"path": str(b)}, test_split_size=40), "sft")
