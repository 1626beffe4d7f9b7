"""Atomic writes into the run directory: a reader never sees a half-written metrics.json or model/."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def write_json(path: Path, data: Any) -> None:
    """Write JSON to a temp file beside `path`, fsync it, then rename over `path`."""
    _write_atomically(path, lambda handle: json.dump(data, handle, indent=2, sort_keys=True, default=str))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write one JSON object per line (JSON Lines), atomically like write_json."""
    _write_atomically(path, lambda handle: handle.write("\n".join(json.dumps(row, default=str) for row in rows)))


def _write_atomically(path: Path, fill: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            fill(handle)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def swap_in(staging: Path, path: Path) -> None:
    """Make the complete directory `staging` become `path` by renames, replacing an older `path`."""
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    try:
        if path.exists():
            os.replace(path, old)
        os.replace(staging, path)
    finally:
        shutil.rmtree(old, ignore_errors=True)
