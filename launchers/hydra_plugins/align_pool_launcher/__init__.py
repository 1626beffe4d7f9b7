"""align's sweep launcher for Hydra (`hydra/launcher=pool`): multirun jobs spread over a node's GPUs.

Hydra finds it by scanning the `hydra_plugins` namespace package; see docs/sweeps.md.
"""

__version__ = "0.1.0"
from ._returns import JobFailedError

__all__ = ["JobFailedError"]
