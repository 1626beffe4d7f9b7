"""Sources: json, jsonl, parquet, csv files and directories of them, split by name; Hub ids through `datasets`;
unreadable files, empty files and missing splits each stop the run with one paragraph that names them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.data import load
from align.data.checks import check_data
from align.errors import AlignError, DataError
from tests.data.conftest import file_data, mixture_data, write_jsonl

ROWS = [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(6)]


def completions(data, split: str = "train") -> list[str]:
    return sorted(row[0]["content"] for row in data[split]["completion"])


def write(path: Path, rows: list[dict]) -> Path:
    """Rows in the file format of the path's suffix."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(rows, indent=1))
    elif path.suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(path)
    elif path.suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        write_jsonl(path, rows)
    return path


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.json", "rows.parquet", "rows.csv", "dir/a.jsonl"])
def test_every_file_format_and_directories(tmp_path: Path, name: str):
    path = write(tmp_path / name, ROWS[:3])
    if name.startswith("dir/"):
        write(tmp_path / "dir" / "b.parquet", ROWS[3:])
        path = path.parent
    data = load(file_data(path, test_split_size=0.0), "sft").splits
    expected = ROWS if name.startswith("dir/") else ROWS[:3]
    assert completions(data) == sorted(row["completion"] for row in expected)


def test_format_reads_a_file_with_another_suffix(tmp_path: Path):
    path = write_jsonl(tmp_path / "rows.txt", ROWS)
    assert len(load(file_data(path, format="jsonl", test_split_size=0.0), "sft").splits["train"]) == 6


def test_a_directory_splits_its_files_by_name(tmp_path: Path):
    write(tmp_path / "d" / "train.jsonl", ROWS[:4])
    write(tmp_path / "d" / "test.jsonl", ROWS[4:])
    data = load(file_data(tmp_path / "d", test_split="test"), "sft").splits
    assert completions(data) == ["a0", "a1", "a2", "a3"] and completions(data, "test") == ["a4", "a5"]
    with pytest.raises(DataError, match=r"data.split='validation' does not exist in .*the split\(s\) train, test"):
        load(file_data(tmp_path / "d", split="validation"), "sft")


def test_a_single_file_has_only_a_train_split(tmp_path: Path):
    path = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    with pytest.raises(DataError, match=r"data.sources\[0\].split='test' does not exist in .*holds one split, 'train'"):
        load(mixture_data({"path": str(path), "split": "test"}), "sft")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("rows.jsonl", '{"prompt": "a", "completion": "b"}\n\n{not json}\n', r"rows\.jsonl:3 is not valid JSON"),
        ("rows.jsonl", '{"prompt": "a", "completion": "b"}\n[1, 2]\n', r"rows\.jsonl:2 is a JSON list; expected"),
        ("rows.json", '[\n{"prompt": "a", "completion": "b"},\n{"prompt": }\n]', r"rows\.json:3 is not valid JSON"),
        ("rows.jsonl", "", r"data.path='.*rows\.jsonl' \(split 'train'\) has no rows\. Expected at least one"),
        ("rows.jsonl", "\n\n", "has no rows"),
        ("rows.json", "[]", "has no rows"),
        ("rows.txt", "{}", r"Invalid value for data.path: .*rows\.txt'\. Expected a file ending in \.json"),
    ],
)
def test_unreadable_and_empty_files_are_named(tmp_path: Path, name: str, content: str, match: str):
    """By validation (a file that cannot be one) or by loading (a file whose rows are bad), as a run meets them."""
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(AlignError, match=match):
        check_data(file_data(path))
        load(file_data(path), "sft")


def test_columns_keeps_some_columns_of_a_source(tmp_path: Path):
    rows = [{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], "label": True}]
    path = write_jsonl(tmp_path / "kto.jsonl", rows * 3)
    data = load(mixture_data({"path": str(path), "columns": ["messages"]}, test_split_size=0.0), "sft").splits
    assert data["train"].column_names == ["messages"]
    with pytest.raises(DataError, match=r"data.sources\[0\].columns lists text, which .* does not have"):
        load(mixture_data({"path": str(path), "columns": ["text"]}), "sft")


def test_hub_datasets_load_through_datasets_and_respect_offline_mode(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"Could not load the Hub dataset 'no-such-org/no-such-data' .*Offline mode"):
        load(mixture_data({"path": "no-such-org/no-such-data", "split": "train_sft"}), "sft")
