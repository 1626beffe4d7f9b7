"""KTO: unpaired rows move the desirable/undesirable margin; preference pairs are unpaired automatically."""

from __future__ import annotations

from pathlib import Path

from align.data.formats import check, convert
from tests.methods.conftest import OVERFIT, logged, start_end, train


def test_kto_grows_the_margin(tmp_path: Path):
    run_dir = tmp_path / "run"
    metrics = train(run_dir, "method=kto", "method.desirable_weight=1.0", "method.undesirable_weight=1.5", *OVERFIT)
    assert metrics["method"] == "kto"
    first, last = start_end(logged(run_dir, "loss"))
    assert last < first - 0.05  # KTO starts at 0.5
    assert start_end(logged(run_dir, "rewards/margins"))[1] > 0.3


def test_preference_pairs_become_unpaired_rows():
    from datasets import Dataset

    pairs = Dataset.from_list([
        {"prompt": [{"role": "user", "content": "What is 1 + 1?"}],
         "chosen": [{"role": "assistant", "content": "2"}],
         "rejected": [{"role": "assistant", "content": "3"}]},
    ])
    fmt = check(pairs.column_names, "unpaired", "test rows", "kto")
    rows = convert(pairs, fmt, "unpaired").to_list()
    assert sorted((r["completion"][0]["content"], r["label"]) for r in rows) == [("2", True), ("3", False)]
    assert all(r["prompt"][0]["content"] == "What is 1 + 1?" for r in rows)
