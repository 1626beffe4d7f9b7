"""Where align finds its shipped configs and keeps its cache, and the cache's remembered file hashes."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def conf_dir() -> Path:
    """conf/ ships inside the wheel as align/conf; in a checkout it sits beside the package."""
    installed = _PACKAGE_DIR / "conf"
    return installed if (installed / "config.yaml").is_file() else _PACKAGE_DIR.parent / "conf"


def cache_dir() -> Path:
    """Root of align's cache: $ALIGN_CACHE_DIR, else $XDG_CACHE_HOME/align, else ~/.cache/align."""
    if os.environ.get("ALIGN_CACHE_DIR"):
        return Path(os.environ["ALIGN_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "align"


def file_hash(path: Path) -> str:
    """sha256 of a file's content, remembered in the cache per (path, size, mtime, inode) so that big weights (or a
    GGUF file) are read once, not once per run of a sweep."""
    import hashlib
    import json

    from align.outputs import write_json

    stat = path.stat()
    stamp = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
    memo = cache_dir() / "file_hashes" / f"{hashlib.sha256(stamp.encode()).hexdigest()[:32]}.json"
    if memo.is_file():
        return json.loads(memo.read_text())["sha256"]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    write_json(memo, {"file": str(path), "sha256": digest.hexdigest()})
    return digest.hexdigest()
