"""The `align` command: the Hydra app, and the one place where a user's mistake becomes one paragraph and exit 2.

Hydra prints composition errors itself and exits 1; to name the bad key, list its closest valid names
and keep tracebacks out of the way, `main` asks Hydra to raise (HYDRA_FULL_ERROR) and formats the
exception here. Set HYDRA_FULL_ERROR=1 yourself to see full tracebacks.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from align.config import closest, register_configs, unknown_key_message
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
    from align.runner import run

    try:
        return run(cfg)
    except AlignError as error:
        _print_error(str(error))
        raise SystemExit(error.exit_code) from None


def main() -> None:
    user_wants_traceback = os.environ.get(_FULL_ERROR) == "1" and not os.environ.get(_SET_BY_ALIGN)
    if not user_wants_traceback:
        os.environ[_FULL_ERROR] = "1"
        os.environ[_SET_BY_ALIGN] = "1"
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


def _chain(error: BaseException) -> list[BaseException]:
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def describe_composition_error(error: Exception) -> str:
    """One paragraph for an exception raised while Hydra composed the config."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    chain = _chain(error)
    for item in chain:
        if isinstance(item, MissingConfigException) and item.options is not None:
            return _unknown_option(item)
        if isinstance(item, OverrideParseException):
            reason = item.message.strip().splitlines()[0]
            return (
                f"Could not parse the command-line override {item.override!r}: {reason}. "
                "Overrides look like key=value, +key=value or group=option."
            )
        if isinstance(item, (ConfigKeyError, ConfigAttributeError)) and item.full_key:
            return unknown_key_message(str(item.full_key), item.object_type)
        if isinstance(item, ValidationError) and item.full_key:
            reason = str(item.msg).splitlines()[0].rstrip(".")
            return (
                f"Invalid value for {item.full_key}: {item.value!r}. {reason}; "
                f"expected {_expected_type(item.object_type, item.key)}."
            )
    first_line = str(error).strip().splitlines()
    return " ".join(line.strip() for line in first_line if line.strip()) or type(error).__name__


def _expected_type(object_type: Any, key: Any) -> str:
    types = {f.name: f.type for f in dataclasses.fields(object_type)} if dataclasses.is_dataclass(object_type) else {}
    annotation = str(types.get(key, "a value of the key's type"))
    for word, text in (("bool", "true or false"), ("int", "an integer"), ("float", "a number"), ("str", "a string")):
        if annotation in (f"<class '{word}'>", f"typing.Optional[{word}]"):
            return text + (" or null" if "Optional" in annotation else "")
    return annotation


def _unknown_option(error: Any) -> str:
    missing = str(error.missing_cfg_file or "")
    group, _, option = missing.rpartition("/")
    options = sorted(str(o) for o in error.options if not str(o).startswith("base_"))
    near = closest(option, options)
    hint = f" Did you mean {' or '.join(near)}?" if near else ""
    return (
        f"Unknown option {option!r} for config group {group!r}.{hint} "
        f"Available options: {', '.join(options)}."
    )
