"""The fields of TRL's config classes, read from a JSON manifest so that composing a config never imports TRL.

`python -m align.trl_fields` regenerates `trl_fields.json` from the installed TRL; a test fails when the two
drift apart after a TRL upgrade.
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

# method kind -> TRL config class (import path). Methods name one of these kinds in their schema.
TRL_CONFIG_CLASSES = {
    "sft": "trl.SFTConfig",
    "dpo": "trl.DPOConfig",
    "kto": "trl.KTOConfig",
    "reward": "trl.RewardConfig",
    "orpo": "trl.experimental.orpo.ORPOConfig",
    "cpo": "trl.experimental.cpo.CPOConfig",
}

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


def build_manifest() -> dict[str, Any]:
    """Read every TRL config class in TRL_CONFIG_CLASSES (imports TRL; used only to regenerate the manifest)."""
    import importlib

    import trl

    classes: dict[str, Any] = {}
    for kind, dotted in TRL_CONFIG_CLASSES.items():
        module_name, class_name = dotted.rsplit(".", 1)
        cls = getattr(importlib.import_module(module_name), class_name)
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
        classes[kind] = {"class": dotted, "fields": fields}
    return {"trl_version": trl.__version__, "classes": classes}


@cache
def load_manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text())


def trl_fields(kind: str) -> dict[str, dict[str, Any]]:
    """Field name -> {type, optional, default, choices, help} of TRL's config class for `kind`."""
    return load_manifest()["classes"][kind]["fields"]


def trl_class_path(kind: str) -> str:
    return load_manifest()["classes"][kind]["class"]


if __name__ == "__main__":
    MANIFEST.write_text(json.dumps(build_manifest(), indent=1) + "\n")
    print(f"wrote {MANIFEST}")
