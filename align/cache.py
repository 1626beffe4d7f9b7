"""`python -m align.cache [DIR] [--prune [--older-than DAYS | --all]]`: what align's cache holds, and room made.

The cache (`$ALIGN_CACHE_DIR`, else ~/.cache/align) holds the reference log-prob entries that sweeps share
(ref_logps/, run/ref_cache.py), the tiny model's builds (tiny/), GGUF files converted to transformers directories
(gguf/, model/gguf.py) and remembered file hashes (file_hashes/). Listing shows each part's size and each reference
entry with its last use; pruning removes entries not used for DAYS days (default 30), or all of them, and hash memos
of files that are gone. An entry a job is computing is never touched.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from align.paths import cache_dir
from align.run.ref_cache import ENTRY_FILE

DAY_S = 24 * 3600


@dataclass
class Entry:
    path: Path
    info: dict
    size: int
    last_used: float  # entry.json's modification time: touched on every cache hit

    def line(self, now: float) -> str:
        days = (now - self.last_used) / DAY_S
        return (f"  {self.path.name[:12]}  {self.info.get('trainer', '?'):<12} {self.info.get('split', '?'):<6} "
                f"{self.info.get('rows', '?'):>7} rows  {_size(self.size):>9}  used {days:.1f} days ago  "
                f"{self.info.get('model', '')}")


def entries(folder: Path) -> list[Entry]:
    """The complete reference log-prob entries in `folder`, least recently used first."""
    found = []
    for entry_json in folder.glob(f"*/{ENTRY_FILE}"):
        try:
            info = json.loads(entry_json.read_text())
        except (OSError, ValueError):
            info = {}
        found.append(Entry(entry_json.parent, info, _tree_size(entry_json.parent), entry_json.stat().st_mtime))
    return sorted(found, key=lambda e: e.last_used)


def prune(folder: Path, older_than_days: float | None) -> list[Path]:
    """Remove entries unused for `older_than_days` (None: all), staging left by dead jobs, and their lock files,
    skipping any entry whose lock a job holds now. Returns what was removed."""
    from filelock import FileLock, Timeout

    cutoff = time.time() - older_than_days * DAY_S if older_than_days is not None else float("inf")
    removed = []
    for entry in entries(folder):
        if entry.last_used >= cutoff:
            continue
        lock = FileLock(str(entry.path) + ".lock")
        try:
            with lock.acquire(timeout=0):
                shutil.rmtree(entry.path, ignore_errors=True)
                Path(str(entry.path) + ".owner").unlink(missing_ok=True)
            Path(str(entry.path) + ".lock").unlink(missing_ok=True)
            removed.append(entry.path)
        except Timeout:
            continue  # a job is computing or reading it
    for staging in folder.glob(".*.staging"):
        key = staging.name[1:].removesuffix(".staging")
        try:
            with FileLock(str(folder / key) + ".lock").acquire(timeout=0):
                shutil.rmtree(staging, ignore_errors=True)
                removed.append(staging)
        except Timeout:
            continue
    return removed


def prune_file_hashes(folder: Path) -> list[Path]:
    """Hash memos (file_hashes/*.json) of files that no longer exist."""
    removed = []
    for memo in folder.glob("*.json"):
        try:
            gone = not Path(json.loads(memo.read_text())["file"]).exists()
        except (OSError, ValueError, KeyError):
            gone = True
        if gone:
            memo.unlink(missing_ok=True)
            removed.append(memo)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m align.cache", description=__doc__.split("\n\n")[1])
    parser.add_argument("dir", nargs="?", type=Path, default=None,
                        help="align's cache directory (default: $ALIGN_CACHE_DIR, else ~/.cache/align), or a "
                             "cache.dir holding reference log-prob entries")
    parser.add_argument("--prune", action="store_true", help="remove reference log-prob entries not used lately")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--older-than", type=float, default=30.0, metavar="DAYS",
                       help="with --prune: entries unused for this many days (default 30)")
    which.add_argument("--all", action="store_true", help="with --prune: every entry")
    args = parser.parse_args(argv)
    root = (args.dir or cache_dir()).expanduser()
    if not root.is_dir():
        sys.stderr.write(f"align.cache: error: {str(root)!r} is not a directory; align's cache is {cache_dir()} "
                         "(set ALIGN_CACHE_DIR to move it).\n")
        return 2
    # a cache.dir given to runs holds the entries itself
    refs = root if any(root.glob(f"*/{ENTRY_FILE}")) else root / "ref_logps"
    if args.prune:
        before = _tree_size(root)
        removed = prune(refs, None if args.all else args.older_than) + prune_file_hashes(root / "file_hashes")
        print(f"align.cache: removed {len(removed)} entries and files, {_size(before - _tree_size(root))}")
    now = time.time()
    found = entries(refs)
    print(f"align.cache: {root}")
    for part in sorted(p for p in root.iterdir() if p.is_dir()):
        print(f"  {part.name + '/':<14} {_size(_tree_size(part)):>9}")
    print(f"reference log-prob entries in {refs}: {len(found)}, {_size(sum(e.size for e in found))}")
    for entry in found:
        print(entry.line(now))
    return 0


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _size(n: float) -> str:
    from align.plan.memory import readable_size

    return readable_size(n)


if __name__ == "__main__":
    sys.exit(main())
