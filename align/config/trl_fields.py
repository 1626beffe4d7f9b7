"""The fields of TRL's config classes, read from a JSON manifest so that composing a config never imports TRL.

The manifest describes one TRL version (pyproject pins its minor version); `check_installed_trl` turns a different
installed TRL into one clear paragraph at start-up. `python -m align.config.trl_fields` regenerates
`trl_fields.json` from the installed TRL, for every config class of the method table (align/methods).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any

MANIFEST = Path(__file__).with_name("trl_fields.json")

_PRIMITIVES = {bool: "bool", int: "int", float: "float", str: "str"}


def _describe_type(annotation: Any) -> tuple[str, bool, list[str] | None]:
    """(kind, optional, choices) of a dataclass field annotation; kind is bool/int/float/str/any."""
    if isinstance(annotation, str):  # postponed annotations are resolved by the caller
        raise TypeError(annotation)
    if annotation in _PRIMITIVES:
        return _PRIMITIVES[annotation], False, None
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "str", False, [member.value for member in annotation]
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        optional = type(None) in args
        rest = [a for a in args if a is not type(None)]
        enums = [a for a in rest if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums and all(a is str or a in enums for a in rest):
            return "str", optional, [member.value for member in enums[0]]
        if len(rest) == 1 and rest[0] in _PRIMITIVES:
            return _PRIMITIVES[rest[0]], optional, None
        return "any", True, None
    return "any", True, None


def _json_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return None
    if isinstance(value, enum.Enum):
        return value.value
    try:
        json.dumps(value)
    except TypeError:
        return None
    return value


def _choices_from_help(help_text: str) -> list[str] | None:
    """TRL lists a field's allowed strings in its help ("Possible values are: `'sigmoid'`, ...")."""
    match = re.search(r"Possible values are:(.*?)(?:\.\s|\. If|$)", help_text, re.S)
    if not match:
        return None
    return re.findall(r"`'?([a-z_0-9]+)'?`", match.group(1)) or None


def config_classes() -> list[str]:
    """Import paths of the TRL config classes that the method table uses, each once."""
    from align.methods import METHODS

    return list(dict.fromkeys(m.config for m in METHODS.values() if m.config))


def build_manifest() -> dict[str, Any]:
    """Read every TRL config class of the method table (imports TRL; used only to regenerate the manifest)."""
    import trl

    from align.methods import import_class

    classes: dict[str, Any] = {}
    for dotted in config_classes():
        cls = import_class(dotted)
        hints = typing.get_type_hints(cls)
        fields = {}
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            kind_name, optional, choices = _describe_type(hints[field.name])
            help_text = field.metadata.get("help", "")
            choices = field.metadata.get("choices") or choices or _choices_from_help(help_text)
            default = _json_default(field)
            fields[field.name] = {
                "type": kind_name,
                "optional": optional or default is None,
                "default": default,
                "choices": list(choices) if choices else None,
                "help": " ".join(help_text.split())[:300],
            }
        classes[dotted] = fields
    return {"trl_version": trl.__version__, "classes": classes}


@cache
def load_manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text())


def trl_fields(config_class: str) -> dict[str, dict[str, Any]]:
    """Field name -> {type, optional, default, choices, help} of the TRL config class at import path `config_class`."""
    return load_manifest()["classes"][config_class]


def check_installed_trl() -> None:
    """An EnvironmentProblem when the installed TRL is another minor version than the manifest describes: its
    config classes may have fields that the schema lacks or no longer have ones it passes (a TypeError mid-run)."""
    from importlib.metadata import PackageNotFoundError, version

    from align.errors import EnvironmentProblem

    expected = load_manifest()["trl_version"]
    try:
        installed = version("trl")
    except PackageNotFoundError:
        raise EnvironmentProblem(f"TRL is not installed; align's method settings are TRL {expected}'s: "
                                 f"pip install 'trl=={_minor(expected)}.*'.") from None
    if _minor(installed) != _minor(expected):
        raise EnvironmentProblem(
            f"TRL {installed} is installed, but align's method settings (every method.* key) describe TRL {expected}, "
            f"whose config fields differ between minor versions. Install that version, pip install "
            f"'trl=={_minor(expected)}.*', or regenerate the settings for the installed one with "
            "`python -m align.config.trl_fields` (a checkout's tests then show what changed)."
        )


def _minor(text: str) -> str:
    return ".".join(text.split(".")[:2])


if __name__ == "__main__":
    MANIFEST.write_text(json.dumps(build_manifest(), indent=1) + "\n")
    print(f"wrote {MANIFEST}")
