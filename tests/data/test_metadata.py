"""Row counts of a Hub mixture from the Hub's metadata (data/metadata.py): the same numbers data.load gives once the
rows are downloaded, for weights, held-out fractions and row counts, test splits, max_samples and KTO's unpairing;
None (load the rows) where the metadata lacks a split's size or a source is local."""

from __future__ import annotations

from pathlib import Path

import pytest

from align.data import load
from align.data.metadata import count
from align.errors import DataError
from tests.conftest import hub_metadata
from tests.data.conftest import mixture_data, write_jsonl

SIZES = {"train_a": 300, "train_b": 120, "test_b": 17}


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub datasets org/a and org/b whose metadata and rows agree (preference pairs)."""
    import datasets

    def rows(split: str) -> list[dict]:
        pair = lambda i, answer: [{"role": "user", "content": f"{split} {i}"},  # noqa: E731
                                  {"role": "assistant", "content": answer}]
        return [{"chosen": pair(i, "yes"), "rejected": pair(i, "no")} for i in range(SIZES[split])]

    monkeypatch.setattr(datasets, "load_dataset_builder", hub_metadata(SIZES, ("chosen", "rejected")))
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda path, name=None, split=None, revision=None: datasets.Dataset.from_list(rows(split)))


@pytest.mark.parametrize("kind", ["preference", "unpaired"])
@pytest.mark.parametrize(("test_split_size", "max_samples"), [(0.1, None), (0.0, None), (50, None), (0.05, 100)])
def test_counts_from_the_metadata_equal_the_loaded_rows(hub: None, kind: str, test_split_size: float,
                                                        max_samples: int | None):
    data = mixture_data({"path": "org/a", "split": "train_a", "weight": 0.5},
                        {"path": "org/b", "split": "train_b", "test_split": "test_b"},
                        test_split_size=test_split_size, max_samples=max_samples)
    counted, loaded = count(data, kind, "dpo"), load(data, kind, "dpo")
    splits = loaded.splits
    assert (counted.train, counted.test) == (len(splits["train"]), len(splits["test"]) if "test" in splits else 0)
    assert [(r.path, r.adapter.name, r.rows, r.train, r.test) for r in counted.sources] == [
        (r.path, r.adapter.name, r.rows, r.train, r.test) for r in loaded.sources]


def test_a_split_the_metadata_does_not_size_means_loading(hub: None, tmp_path: Path):
    assert count(mixture_data({"path": "org/a", "split": "train_a[:10%]"}), "preference") is None
    local = write_jsonl(tmp_path / "a.jsonl", [{"prompt": "a", "completion": "b"}])
    assert count(mixture_data({"path": "org/a", "split": "train_a"}, {"path": str(local)}), "sft") is None


def test_the_metadatas_columns_are_checked_against_the_method(hub: None):
    with pytest.raises(DataError, match="cannot become text data|trains on text data"):
        count(mixture_data({"path": "org/a", "split": "train_a", "columns": ["chosen", "rejected"]}), "text", "cpt")


def test_more_rows_held_out_than_the_mixture_has_is_an_error(hub: None):
    with pytest.raises(DataError, match="holds out 5000 rows of the mixture"):
        count(mixture_data({"path": "org/b", "split": "train_b"}, test_split_size=5000), "preference")
