"""`python -m align.cache`: lists the cache's parts and reference entries, and prunes entries by last use, never
one a job is computing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from filelock import FileLock

from align.cache import main
from tests.conftest import cli_env


def entry(root: Path, key: str, days_ago: float) -> Path:
    path = root / "ref_logps" / key
    (path / "tokenized").mkdir(parents=True)
    (path / "ref_logps.arrow").write_bytes(b"\0" * 2048)
    (path / "entry.json").write_text(json.dumps({"trainer": "DPOTrainer", "split": "train", "rows": 64,
                                                 "model": "runs/sft/model"}))
    stamp = time.time() - days_ago * 86400
    os.utime(path / "entry.json", (stamp, stamp))
    return path


def test_listing_shows_parts_and_entries(tmp_path: Path, capsys):
    entry(tmp_path, "a" * 32, days_ago=3)
    (tmp_path / "tiny").mkdir()
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ref_logps/" in out and "tiny/" in out
    assert "reference log-prob entries in" in out and ": 1," in out
    assert "aaaaaaaaaaaa  DPOTrainer   train       64 rows" in out and "used 3.0 days ago  runs/sft/model" in out


def test_prune_removes_entries_unused_for_longer_than_the_limit(tmp_path: Path, capsys):
    old, recent = entry(tmp_path, "o" * 32, days_ago=40), entry(tmp_path, "r" * 32, days_ago=1)
    staging = tmp_path / "ref_logps" / f".{'d' * 32}.staging"  # left by a job that died while writing
    staging.mkdir()
    assert main([str(tmp_path), "--prune"]) == 0
    assert not old.exists() and recent.exists() and not staging.exists()
    assert main([str(tmp_path), "--prune", "--older-than", "0.5"]) == 0
    assert not recent.exists()
    assert "removed 1 entries and files" in capsys.readouterr().out


def test_an_entry_being_computed_is_kept(tmp_path: Path):
    busy = entry(tmp_path, "b" * 32, days_ago=90)
    with FileLock(str(busy) + ".lock"):
        assert main([str(tmp_path), "--prune", "--all"]) == 0
    assert busy.exists()


def test_file_hash_memos_of_deleted_files_are_pruned(tmp_path: Path):
    memos = tmp_path / "file_hashes"
    memos.mkdir()
    kept = tmp_path / "weights.bin"
    kept.write_bytes(b"x")
    (memos / "gone.json").write_text(json.dumps({"file": str(tmp_path / "deleted.bin"), "sha256": "0"}))
    (memos / "kept.json").write_text(json.dumps({"file": str(kept), "sha256": "1"}))
    assert main([str(tmp_path), "--prune"]) == 0
    assert sorted(p.name for p in memos.iterdir()) == ["kept.json"]


def test_a_missing_directory_is_one_line_and_exit_2(tmp_path: Path):
    out = subprocess.run([sys.executable, "-m", "align.cache", str(tmp_path / "nope")], capture_output=True,
                         text=True, env=cli_env(), timeout=60)
    assert out.returncode == 2 and out.stderr.startswith("align.cache: error:") and "Traceback" not in out.stderr
