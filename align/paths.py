"""Where align finds its shipped configs and keeps its cache."""

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
