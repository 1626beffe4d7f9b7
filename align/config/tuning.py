"""The embedded tiny model's tuning (conf/tune/tiny/<method>.yaml) applies to that model only: the project's own
build, or a model trained from it (its directory carries the tiny lineage, align/model/tiny.py).

Hydra picks the tuning file by the `model` group's choice, before any value is known, so `model=tiny` (the
default) with `model.name_or_path=<a real model>` would train that model with the tiny values. The command line
is therefore read first: when `model.name_or_path` names something else than the tiny model, `~tune` is added,
so `--cfg job`, the dry-run plan and the run all show the method's own values. A tuning that reaches another
model some other way (an experiment file, a sweep mixing both kinds) is refused at validation.
"""

from __future__ import annotations

from omegaconf import DictConfig

from align.errors import ConfigError
from align.model.tiny import is_tiny_lineage

NO_TUNING = "~tune"


def tuning_overrides(overrides: list[str]) -> list[str]:
    """Overrides to add to `overrides` so that the tiny tuning is left out for a model that is not the tiny one."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides([o for o in overrides if "=" in o or o.startswith("~")])
    except HydraException:
        return []  # Hydra reports the bad override itself
    keys = {override.get_key_element().lstrip("+~") for override in parsed}
    if "tune" in keys:  # the user chose (or removed) a tuning file: theirs wins
        return []
    paths = [_values(o) for o in parsed if o.get_key_element().lstrip("+~") == "model.name_or_path"]
    if not paths:
        return []
    values = [value for value in paths[-1] if value not in (None, "null")]
    if values and not any(is_tiny_lineage(value) for value in values):
        return [NO_TUNING]
    return []


def check_tuning(cfg: DictConfig, overrides: list[str]) -> None:
    """A tuning file applied to a model that is not the tiny one is an error, unless the user chose it."""
    path = cfg.model.name_or_path
    if cfg.get("tuning") is None or path is None or is_tiny_lineage(path):
        return
    if any(o.lstrip("+~").split("=")[0] == "tune" for o in overrides):
        return
    option = cfg.tuning.removeprefix("tune/").removesuffix(".yaml")
    raise ConfigError(
        f"{cfg.tuning} (the embedded tiny model's training values: learning rate, steps, max_length, ...) was "
        f"applied, but model.name_or_path={path!r} is not the tiny model nor a model trained from it. Add "
        f"{NO_TUNING} to the command line so that the method's own values apply (or tune={option} to keep them "
        "on purpose); a sweep over model.name_or_path should not mix the tiny model with others."
    )


def _values(override) -> list[str | None]:
    if override.is_sweep_override():
        return [str(v) for v in override.sweep_string_iterator()]
    value = override.value()
    return [None if value is None else str(value)]
