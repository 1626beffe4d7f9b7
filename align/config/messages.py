"""The paragraphs for mistakes Hydra and OmegaConf find while composing: an unknown key (with the closest valid
names), an unknown group option, an override that does not parse, a value of the wrong type, a key of an evaluation
or judge that is not selected."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from align.errors import closest


def unknown_key_message(key: str, object_type: Any) -> str:
    """"Unknown config key" paragraph with the closest valid names of the node's schema."""
    leaf = key.rsplit(".", 1)[-1]
    valid = [f.name for f in dataclasses.fields(object_type)] if dataclasses.is_dataclass(object_type) else []
    near = closest(leaf, valid)
    parent = key.rsplit(".", 1)[0] if "." in key else "the top level"
    hint = f" Did you mean {', '.join(f'{parent}.{n}' if '.' in key else n for n in near)}?" if near else ""
    listing = f" `python -m align --cfg job` lists every valid key of {parent}." if valid else ""
    return f"Unknown config key {key!r}: {parent} has no field {leaf!r}.{hint}{listing}"


def describe_composition_error(error: Exception) -> str:
    """One paragraph for an exception raised while Hydra composed the config."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    unselected = unselected_option_message(sys.argv[1:])
    if unselected and any(isinstance(item, (AssertionError, ConfigKeyError, ConfigAttributeError))
                          for item in _chain(error)):
        return unselected
    for item in _chain(error):
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


def _chain(error: BaseException) -> list[BaseException]:
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


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


def unselected_option_message(overrides: list[str]) -> str | None:
    """`eval.mt_bench.limit=3` without eval=mt_bench, or `judge.model=...` without judge=...: Hydra finds no such
    node (its error names none); say which selection is missing."""
    chosen: dict[str, set[str]] = {"eval": set(), "judge": set()}
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+") in chosen:
            chosen[key.lstrip("+")] |= {v.strip() for v in value.strip("[]").split(",") if v.strip()}
    for override in overrides:
        key = override.partition("=")[0].lstrip("+~")
        group, _, rest = key.partition(".")
        if group == "eval" and "." in rest and rest.split(".")[0] not in chosen["eval"]:
            name = rest.split(".")[0]
            return (f"{key} is set, but eval={name} is not selected: add eval={name} (or a list, "
                    f'"eval=[{name},...]") to the command line.')
        if group == "judge" and rest and not chosen["judge"]:
            return (f"{key} is set, but no judge is chosen: add judge=reward_model (a reward model scores) or "
                    "judge=openai (an OpenAI-compatible endpoint grades) to the command line.")
    return None
