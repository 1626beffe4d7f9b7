"""Exception types for bad user input, one per layer, each printed at the entrypoint as one paragraph."""

from __future__ import annotations


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
