"""Data of a kind the method cannot train on stops the run before any model loads, naming the columns found
and the formats that would do; rows keep only the columns the method uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from align.data import load
from align.errors import DataError
from tests.conftest import run_align
from tests.data.conftest import file_data, write_jsonl

PROMPT = [{"role": "user", "content": "What is 1 + 1?"}]
SFT_ROW = {"prompt": PROMPT, "completion": [{"role": "assistant", "content": "2"}]}
PAIR_ROW = {"prompt": PROMPT, "chosen": SFT_ROW["completion"], "rejected": [{"role": "assistant", "content": "3"}]}


def test_sft_data_to_dpo_stops_before_the_model_loads(tmp_path: Path):
    path = write_jsonl(tmp_path / "sft.jsonl", [SFT_ROW] * 4)
    out = run_align("method=dpo", "data=file", f"data.path={path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2
    message = out.stderr.strip().splitlines()[-1]
    assert message.startswith(f"align: error: data.path='{path}' has columns prompt, completion (prompt/completion, "
                              "sft data), but method 'dpo' trains on preference data and needs the columns of one of: ")
    assert "conversations, chosen, rejected (ShareGPT pairwise); " in message
    assert "; prompt, chosen, rejected;" in message
    assert "Loading weights" not in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "run" / "model").exists()


def test_unlabelled_data_to_kto_names_the_label_column(tmp_path: Path):
    path = write_jsonl(tmp_path / "sft.jsonl", [SFT_ROW] * 4)
    with pytest.raises(DataError, match=r"columns prompt, completion .*needs the columns of one of: .*label"):
        load(file_data(path), "unpaired", "kto")


@pytest.mark.parametrize(
    ("kind", "row"), [("sft", {"text": "x"}), ("text", SFT_ROW), ("preference", {"text": "x"}), ("sft", {"a": 1})]
)
def test_every_kind_mismatch_is_a_data_error(tmp_path: Path, kind: str, row: dict):
    with pytest.raises(DataError, match="needs the columns of one of"):
        load(file_data(write_jsonl(tmp_path / "rows.jsonl", [row])), kind)


def test_rows_keep_only_the_columns_the_method_uses(tmp_path: Path):
    rows = [{**PAIR_ROW, "score_chosen": 1.0, "score_rejected": 0.0}] * 20
    data = load(file_data(write_jsonl(tmp_path / "pairs.jsonl", rows), test_split_size=0.1), "preference").splits
    assert data["train"].column_names == ["prompt", "chosen", "rejected"]
    assert (len(data["train"]), len(data["test"])) == (18, 2)
    assert "test" not in load(file_data(tmp_path / "pairs.jsonl", test_split_size=0.0), "preference").splits
