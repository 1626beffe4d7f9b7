"""Registry of training methods: one module per method in this package, found by name.

A method module exposes `train(run: align.training.Run) -> dict` and `DATA_KIND`, the data format it
trains on. Adding a method means one module here, one yaml in conf/method/ and one test.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType


@cache
def available_trainers() -> frozenset[str]:
    """Names of the method modules, found without importing them (so without torch)."""
    return frozenset(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


def get_method(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")
