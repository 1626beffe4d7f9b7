"""The schemas in Hydra's ConfigStore, so that conf/<group>/<option>.yaml extends them (`defaults: [base_dpo,
_self_]`): the method schemas generated from TRL's config classes (config/trl_fields.py) on first use, one
`base_<name>` per row of the method table (align/methods), and the other groups' dataclasses of config/schema.py.

Made for start-up speed (docs/performance.md, bench/startup.py): a run composes one method, so only its ~150-field
schema is generated and converted, and Hydra's per-composition copies share the store instead of copying it.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import field
from functools import cache
from typing import Any, Optional

from hydra.core.config_store import ConfigNode, ConfigStore
from omegaconf import OmegaConf

from align.config.schema import (
    JUDGE_SCHEMAS,
    OWN_METHOD_SCHEMAS,
    RENAMED_FIELDS,
    AlignConfig,
    ArithmeticDataConfig,
    FileDataConfig,
    HardwareConfig,
    MixtureDataConfig,
    ModelConfig,
    PeftConfig,
    RewardKeys,
    TrackingConfig,
)
from align.config.trl_fields import trl_fields
from align.methods import METHODS

_OMEGACONF_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _generated_schema(name: str, config_class: str, rewarded: bool) -> type:
    """A dataclass with every field of TRL's config class, plus align's own method keys."""
    fields: list[tuple[str, Any, Any]] = [
        ("name", str, field(default=name)),
        # The row of the method table that trains this option (ipo.yaml says `trainer: dpo`).
        ("trainer", str, field(default=name)),
    ]
    if rewarded:
        hints = typing.get_type_hints(RewardKeys)
        for own in dataclasses.fields(RewardKeys):
            default = (field(default_factory=own.default_factory) if own.default_factory is not dataclasses.MISSING
                       else field(default=own.default))
            fields.append((own.name, hints[own.name], default))
    trl = trl_fields(config_class)
    for key, spec in trl.items():
        base = _OMEGACONF_TYPES.get(spec["type"], Any)
        optional = spec["optional"] or key in RENAMED_FIELDS  # validation empties an old name once moved
        annotation = Optional[base] if optional and base is not Any else base
        default = spec["default"]
        if isinstance(default, (list, dict)):
            fields.append((key, annotation, field(default_factory=lambda d=default: type(d)(d))))
        else:
            fields.append((key, annotation, field(default=default)))
    for old in RENAMED_FIELDS:
        if old not in trl:
            fields.append((old, Optional[float] if old == "warmup_ratio" else Any, field(default=None)))
    return dataclasses.make_dataclass(_schema_name(name), fields)


@cache
def method_schema(name: str) -> type:
    """The schema of the method table's row `name`, generated from its TRL config class on first use."""
    row = METHODS[name]
    if not row.config:
        return OWN_METHOD_SCHEMAS[name]
    schema = _generated_schema(name, row.config, row.rewarded)
    # Importable by name (see __getattr__), so pickled configs (sweep jobs in their own processes) refer to
    # this very class instead of a copy.
    schema.__module__ = __name__
    globals()[schema.__name__] = schema
    return schema


def _schema_name(name: str) -> str:
    own = OWN_METHOD_SCHEMAS.get(name)
    return own.__name__ if own else f"{name.upper()}MethodConfig"


def __getattr__(attribute: str) -> type:
    """`align.config.store.DPOMethodConfig` and the like, generated on first use (unpickling a config does this)."""
    for name in METHODS:
        if _schema_name(name) == attribute:
            return method_schema(name)
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")


def method_row_of(schema: type):
    """The method table's row whose schema is `schema` (the dataclass type of a composed method node), or None."""
    return next((row for name, row in METHODS.items()
                 if _schema_name(name) == getattr(schema, "__name__", None) and method_schema(name) is schema), None)


class _SharedWhenCopied(dict):
    """The root of Hydra's ConfigStore. Hydra deep-copies the store for every composition (CachingConfigRepository,
    to keep its search-path state apart) although stored nodes are never changed in place: ConfigStore.load hands
    out deep copies of them. Sharing the root keeps each composition from copying every schema; --help, which
    composes once per group option (165 times), took 19 s when each one copied them all."""

    def __deepcopy__(self, memo: dict) -> _SharedWhenCopied:
        return self


class _MethodSchemasOnDemand(dict):
    """The `method` group of the ConfigStore: a `base_<name>` schema is generated and converted to an OmegaConf node
    when a composition first loads it. ConfigStore.store converts a node at once, and generating and converting
    the ~150-field schema of every method was a third of `--cfg job`'s time although a run uses one. Hydra reads a
    group only through `name in group`, `group[name]` and `group.keys()` (hydra/core/config_store.py), which this
    dict answers as a stored group does."""

    def __init__(self) -> None:
        super().__init__(dict.fromkeys(f"base_{name}.yaml" for name in METHODS))

    def __getitem__(self, file_name: str) -> ConfigNode:
        entry = super().__getitem__(file_name)
        if entry is None:
            schema = method_schema(file_name.removeprefix("base_").removesuffix(".yaml"))
            entry = ConfigNode(name=file_name, node=OmegaConf.structured(schema), group="method", package=None,
                               provider=None)
            super().__setitem__(file_name, entry)
        return entry


def register_configs() -> None:
    """Store the schemas so conf/*.yaml can extend them (`defaults: [base_dpo, _self_]`); a method's schema is made
    when a composition first uses it."""
    cs = ConfigStore.instance()
    if not isinstance(cs.repo, _SharedWhenCopied):
        cs.repo = _SharedWhenCopied(cs.repo)
    cs.store(name="schema", node=AlignConfig)
    cs.repo["method"] = _MethodSchemasOnDemand()
    cs.store(group="model", name="base_model", node=ModelConfig)
    cs.store(group="data", name="base_arithmetic", node=ArithmeticDataConfig)
    cs.store(group="data", name="base_file", node=FileDataConfig)
    cs.store(group="data", name="base_mixture", node=MixtureDataConfig)
    cs.store(group="hardware", name="base_hardware", node=HardwareConfig)
    cs.store(group="peft", name="base_peft", node=PeftConfig)
    cs.store(group="tracking", name="base_tracking", node=TrackingConfig)
    for name, schema in JUDGE_SCHEMAS.items():
        cs.store(group="judge", name=f"base_{name}", node=schema)
