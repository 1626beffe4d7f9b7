"""The `align` command: the Hydra app, and the one place where a user's mistake becomes one paragraph and exit 2.

Hydra prints composition errors itself and exits 1; to name the bad key, list its closest valid names
and keep tracebacks out of the way, `main` asks Hydra to raise (HYDRA_FULL_ERROR) and formats the
exception here. Set HYDRA_FULL_ERROR=1 yourself to see full tracebacks. Before Hydra composes, `main` leaves
the tiny model's tuning out for a model that is not the tiny one (config/tuning.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from align.config.messages import describe_composition_error
from align.config.store import register_configs
from align.config.tuning import tuning_overrides
from align.errors import AlignError
from align.paths import conf_dir

_FULL_ERROR = "HYDRA_FULL_ERROR"
_SET_BY_ALIGN = "_ALIGN_SET_HYDRA_FULL_ERROR"

register_configs()
OmegaConf.register_new_resolver("align_config_groups", lambda: config_groups_help(), replace=True)
_CHECKOUT_LAUNCHERS = Path(__file__).resolve().parent.parent / "launchers"
if _CHECKOUT_LAUNCHERS.is_dir() and str(_CHECKOUT_LAUNCHERS) not in sys.path:
    # Hydra finds plugins by scanning the hydra_plugins namespace on sys.path; an editable install
    # maps the launcher package in a way that scan misses, so a checkout puts launchers/ on the path.
    sys.path.append(str(_CHECKOUT_LAUNCHERS))


@hydra.main(config_path=str(conf_dir()), config_name="config", version_base=None)
def app(cfg: DictConfig) -> dict[str, Any]:
    _restore_full_error_setting()
    from align.run.job import run_job

    try:
        return run_job(cfg)
    except AlignError as error:
        _print_error(str(error))
        raise SystemExit(error.exit_code) from None


def main() -> None:
    user_wants_traceback = os.environ.get(_FULL_ERROR) == "1" and not os.environ.get(_SET_BY_ALIGN)
    if not user_wants_traceback:
        os.environ[_FULL_ERROR] = "1"
        os.environ[_SET_BY_ALIGN] = "1"
    sys.argv[1:1] = tuning_overrides(sys.argv[1:])
    try:
        app()
    except AlignError as error:
        if user_wants_traceback:
            raise
        _print_error(str(error))
        sys.exit(error.exit_code)
    except Exception as error:  # Hydra/OmegaConf composition errors: bad overrides, unknown options
        if user_wants_traceback:
            raise
        _print_error(describe_composition_error(error))
        sys.exit(2)
    finally:
        _restore_full_error_setting()


def config_groups_help() -> str:
    """`group: option, option` lines for --help, without the internal schema and tuning configs."""
    lines = []
    for group in sorted(p for p in conf_dir().iterdir() if p.is_dir() and p.name not in ("hydra", "tune")):
        names = sorted(str(f.relative_to(group).with_suffix("")) for f in group.rglob("*.yaml"))
        lines.append(f"{group.name}: {', '.join(names)}")
    return "\n".join(lines)


def _restore_full_error_setting() -> None:
    """Undo our HYDRA_FULL_ERROR so that child processes (launchers, accelerate) see the user's own."""
    if os.environ.pop(_SET_BY_ALIGN, None):
        os.environ.pop(_FULL_ERROR, None)


def _print_error(paragraph: str) -> None:
    sys.stderr.write(f"align: error: {paragraph}\n")
    sys.stderr.flush()
