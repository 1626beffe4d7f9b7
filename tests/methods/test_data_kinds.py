"""Data of the wrong kind stops a run before any model loads, naming the columns found and needed;
`data=file` reads a JSON Lines file in one of TRL's formats."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from align.config import FileDataConfig
from align.data import load_for_method
from align.errors import DataError
from tests.conftest import run_align
from tests.methods.conftest import write_jsonl

PROMPT = [{"role": "user", "content": "What is 1 + 1?"}]
SFT_ROW = {"prompt": PROMPT, "completion": [{"role": "assistant", "content": "2"}]}
PAIR_ROW = {**SFT_ROW, "chosen": SFT_ROW["completion"], "rejected": [{"role": "assistant", "content": "3"}]}
del PAIR_ROW["completion"]


def file_data(path: Path, **values) -> object:
    return OmegaConf.structured(FileDataConfig(path=str(path), **values))


def test_sft_data_to_dpo_stops_before_the_model_loads(tmp_path: Path):
    path = write_jsonl(tmp_path / "sft.jsonl", [SFT_ROW] * 4)
    out = run_align("method=dpo", "data=file", f"data.path={path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2
    message = out.stderr.strip().splitlines()[-1]
    assert message.startswith("align: error:") and "columns prompt, completion" in message
    assert "needs the columns prompt, chosen, rejected" in message and "'dpo'" in message
    assert "Loading weights" not in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "run" / "model").exists()


def test_unlabelled_data_to_kto_names_the_label_column(tmp_path: Path):
    path = write_jsonl(tmp_path / "sft.jsonl", [SFT_ROW] * 4)
    with pytest.raises(DataError, match=r"columns prompt, completion .*needs the columns prompt, completion, label"):
        load_for_method(file_data(path), "unpaired", "kto")


@pytest.mark.parametrize(("kind", "rows"), [("sft", [PAIR_ROW]), ("text", [SFT_ROW]), ("preference", [{"text": "x"}])])
def test_every_kind_mismatch_is_a_data_error(tmp_path: Path, kind: str, rows: list[dict]):
    with pytest.raises(DataError, match="needs the columns"):
        load_for_method(file_data(write_jsonl(tmp_path / "rows.jsonl", rows)), kind)


def test_file_rows_keep_only_the_columns_the_method_uses(tmp_path: Path):
    rows = [{**PAIR_ROW, "score_chosen": 1.0, "score_rejected": 0.0}] * 20
    data = load_for_method(file_data(write_jsonl(tmp_path / "pairs.jsonl", rows), test_split_size=0.1), "preference")
    assert data["train"].column_names == ["prompt", "chosen", "rejected"]
    assert (len(data["train"]), len(data["test"])) == (18, 2)
    assert "test" not in load_for_method(file_data(tmp_path / "pairs.jsonl", test_split_size=0.0), "preference")


@pytest.mark.parametrize(
    ("content", "values", "match"),
    [
        (None, {}, "is not a file"),
        ('{"prompt": "a", "completion": "b"}\n{not json}\n', {}, r"rows\.jsonl:2 is not valid JSON"),
        ("[1, 2]\n", {}, r"rows\.jsonl:1 is a JSON list"),
        ("\n", {}, "has no rows"),
        ('{"prompt": "a", "completion": "b"}\n', {"format": "preference"}, "not those of data.format=preference"),
        ('{"prompt": "a", "completion": "b"}\n', {"format": "csv"}, "Invalid value for data.format"),
        ('{"prompt": "a", "completion": "b"}\n', {"test_split_size": 1.5}, "Invalid value for data.test_split_size"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, content: str | None, values: dict, match: str):
    path = tmp_path / "rows.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=match):
        load_for_method(file_data(path, **values), "sft")


def test_file_without_a_path_says_how_to_give_one():
    with pytest.raises(DataError, match="data=file needs data.path="):
        load_for_method(OmegaConf.structured(FileDataConfig()), "preference")
