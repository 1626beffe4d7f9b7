"""`validate(cfg)`: every value the user can set, checked once, before any data, model or device is touched.

Handbook names (and values, such as packing_strategy ffd) that current TRL renamed are moved to their new names
here (the only change validation makes), and a bare string where TRL expects a list (`method.loss_type=hinge`)
becomes a list.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from align.config import checks
from align.config.schema import RENAMED_FIELDS, RENAMED_VALUES
from align.config.store import method_row_of
from align.config.trl_fields import trl_fields
from align.config.tuning import check_tuning
from align.errors import ConfigError, invalid
from align.methods import METHODS, Method

GROUPS = ("model", "method", "data", "hardware", "peft", "tracking")


def validate(cfg: DictConfig, overrides: list[str] | None = None) -> Method:
    """Check every value; raise ConfigError naming the key. Returns the method's row of the method table.

    `overrides` are the job's command-line overrides (to tell a tuning file chosen on purpose from one that
    reached another model by accident)."""
    from align.data.checks import check_data

    missing = [key for key in GROUPS if key not in cfg]
    if missing:
        raise ConfigError(f"The composed config lacks the group(s) {', '.join(missing)}.")
    checks.reject_unknown_keys(cfg)
    row = method_row(cfg.method)
    checks.check_choices(cfg)
    checks.check_model(cfg.model)
    checks.check_rules(cfg.method, row.config)
    with _writable(cfg.method):
        translate_renamed(cfg.method)
        _lists_where_trl_wants_lists(cfg.method, row)
    if row.config:
        checks.check_trl_choices(cfg.method, trl_fields(row.config))
        checks.check_trl_choices(cfg.method, {key: {"choices": list(values)} for key, values in
                                              checks.PROSE_CHOICES.get(row.config, {}).items()})
    checks.check_method_keys(cfg.method)
    if row.rewarded:
        from align.methods import rewards

        rewards.check(cfg.method)
    checks.check_hardware(cfg.hardware, cfg.peft)
    check_data(cfg.data, cfg.model.chat_template)
    checks.check_tracking(cfg.tracking)
    checks.check_cache(cfg)
    checks.check_eval(cfg, row)
    check_tuning(cfg, overrides or [])
    return row


def method_row(method: DictConfig) -> Method:
    """The method table's row for `method.trainer`, which must also be the row whose schema the node extends."""
    if method.trainer not in METHODS:
        raise invalid("method.trainer", method.trainer, "one of " + ", ".join(sorted(METHODS)))
    row = METHODS[method.trainer]
    schema_row = method_row_of(OmegaConf.get_type(method))
    if schema_row is None or (schema_row.config or schema_row.name) != (row.config or row.name):
        raise ConfigError(
            f"method.name={method.get('name')!r} says trainer {method.trainer!r}, but its yaml does not extend that "
            f"trainer's schema: its defaults list should start with base_{row.name} (or an option that does)."
        )
    return row


def translate_renamed(method: DictConfig) -> None:
    """Move values given under the handbook's older names to the current ones. A name that is align's own key
    (warmup_ratio: TRL has no such field) always moves; one that TRL still accepts as a deprecated alias
    (gradient_checkpointing, whose default is set) moves unless the new name was set. A renamed value
    (packing_strategy ffd) becomes its new name."""
    for old, new in RENAMED_FIELDS.items():
        if old not in method or method[old] is None:
            continue
        if new not in method:
            raise ConfigError(f"method.{old} is not used by method '{method.name}' (its field {new} is absent).")
        if not _is_trl_field(method, old) or method[new] is None:
            method[new] = method[old]
        method[old] = None
    for (key, old_value), new_value in RENAMED_VALUES.items():
        if method.get(key) == old_value:
            method[key] = new_value


def _is_trl_field(method: DictConfig, key: str) -> bool:
    row = METHODS[method.trainer]
    return bool(row.config) and key in trl_fields(row.config)


def _lists_where_trl_wants_lists(method: DictConfig, row: Method) -> None:
    """TRL takes a bare string where it expects a list (`method.loss_type=hinge`); store the list."""
    for key, spec in (trl_fields(row.config) if row.config else {}).items():
        if isinstance(spec["default"], list) and isinstance(method.get(key), str):
            method[key] = [method[key]]


class _writable:
    """Temporarily lift read-only mode on a node (Hydra hands the task a read-only config)."""

    def __init__(self, node: DictConfig) -> None:
        self.node = node

    def __enter__(self) -> DictConfig:
        self.flag = self.node._get_node_flag("readonly")
        OmegaConf.set_readonly(self.node, False)
        return self.node

    def __exit__(self, *exc: Any) -> None:
        OmegaConf.set_readonly(self.node, self.flag)
