"""Exception types for bad user input, one per layer, each printed at the entrypoint as one paragraph; and the
helpers every layer uses to word such a paragraph the same way ("Invalid value for KEY: ... Expected ...")."""

from __future__ import annotations

import difflib
from typing import Any


class AlignError(Exception):
    """A problem the user can fix (a config value, a data row, a path). Printed without a traceback."""

    exit_code = 2


class ConfigError(AlignError):
    """A config key or value is wrong; raised before any model, data or GPU is touched."""


class DataError(AlignError):
    """A data source, file or row cannot be used for the method at hand."""


class SourceUnreachable(DataError):
    """A Hub dataset could not be fetched (no network, offline mode, gated): the data may be fine."""


class ModelError(AlignError):
    """A model or tokenizer cannot be found or loaded."""


class EnvironmentProblem(AlignError):
    """The machine lacks something the run needs (a GPU, an optional package, a writable directory)."""


def invalid(key: str, value: Any, expected: str, hint: str = "") -> ConfigError:
    """'Invalid value for KEY: VALUE. Expected EXPECTED. HINT' as a ConfigError."""
    shown = "null" if value is None else repr(value)
    return ConfigError(f"Invalid value for {key}: {shown}. Expected {expected}.{(' ' + hint) if hint else ''}")


def closest(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """Names from `candidates` that look like `name` (for "did you mean" hints)."""
    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)
    return found or [c for c in candidates if name.lower() in c.lower()][:n]


def did_you_mean(name: str, candidates: list[str]) -> str:
    """' Did you mean a or b?' for the candidates close to `name`, or ''."""
    near = closest(name, candidates)
    return f"Did you mean {' or '.join(near)}?" if near else ""
