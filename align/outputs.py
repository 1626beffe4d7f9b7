"""Atomic writes into the run directory: a reader never sees a half-written metrics.json, config or model/.

Files are written beside their target, flushed to disk and renamed over it; directories are filled under a
staging name and swapped in. A crash (or SIGKILL) at any moment leaves either the old or the new version.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from align.errors import EnvironmentProblem

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h: swap two paths in one step


def write_json(path: Path, data: Any) -> None:
    """Write JSON to a temp file beside `path`, fsync it, then rename over `path`."""
    _write_atomically(path, lambda handle: json.dump(data, handle, indent=2, sort_keys=True, default=str))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write one JSON object per line (JSON Lines), atomically like write_json."""
    _write_atomically(path, lambda handle: handle.write("\n".join(json.dumps(row, default=str) for row in rows)))


def write_text(path: Path, text: str) -> None:
    """Write `text` (ending in one newline) atomically like write_json."""
    _write_atomically(path, lambda handle: handle.write(text.rstrip("\n")))


def _write_atomically(path: Path, fill: Any) -> None:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        fill(handle)
        handle.write("\n")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp file beside `path` for the block to write (by name, e.g. matplotlib's savefig); once the block
    completes it is flushed to disk and renamed over `path`; if it fails, `path` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _sync(Path(tmp))
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:  # a failed write names no file: name it
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    _sync(path.parent)


@contextmanager
def disk_errors(run_dir: Path) -> Iterator[None]:
    """A full disk or an unwritable run directory becomes one EnvironmentProblem paragraph, not a traceback."""
    try:
        yield
    except Exception as error:
        code = _write_errno(error)
        if code is None:
            raise
        where = getattr(error, "filename", None) or run_dir
        if code in _FULL:
            advice = ("The disk (or a quota or file size limit) is full: free space, or choose another "
                      "hydra.run.dir. Earlier outputs there are unchanged, and the same command continues from "
                      "the latest complete checkpoint.")
        else:
            advice = f"Expected a run directory this user can write to: choose another hydra.run.dir than {run_dir}."
        raise EnvironmentProblem(f"Could not write {where}: {os.strerror(code)}. {advice}") from error


def _write_errno(error: Exception) -> int | None:
    """The errno of a failed write: an OSError's own, or one that a library's error wraps in its message."""
    if isinstance(error, OSError):
        code = error.errno
    elif match := re.search(r"os error (\d+)", str(error)):  # Rust I/O errors (safetensors, tokenizers)
        code = int(match.group(1))
    elif "file write failed" in str(error):  # torch.save's writer; it gives no reason, and a full disk is the usual
        code = errno.ENOSPC
    else:
        return None
    return code if code in _FULL | _NOT_WRITABLE else None


def swap_in(staging: Path, path: Path) -> None:
    """Make the complete directory `staging` become `path`, replacing an older `path` in one rename where the
    system can exchange two paths (Linux), else in two (with no `path` in between, never a mixed one)."""
    sync_tree(staging)
    if path.exists() and _exchange(staging, path):
        shutil.rmtree(staging, ignore_errors=True)  # it now holds the older version
    else:
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        try:
            if path.exists():
                os.replace(path, old)
            os.replace(staging, path)
        finally:
            shutil.rmtree(old, ignore_errors=True)
    _sync(path.parent)


def sync_tree(root: Path) -> None:
    """Flush every file and directory under `root` to disk, so a rename that publishes it publishes data."""
    for folder, _, files in os.walk(root):
        for name in files:
            _sync(Path(folder) / name)
        _sync(Path(folder))


def _sync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. directories on Windows; the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # file systems that cannot fsync a directory
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically with renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0
