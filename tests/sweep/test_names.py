"""Job directory names: safe_dirname keeps one legal directory level, and override_dirname is the name
Hydra itself computes for a job (checked against a composed config)."""

from __future__ import annotations

import pytest

from align.sweep.names import override_dirname, safe_dirname


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("experiment=pref_align_scan/zephyr,seed=1", "experiment=pref_align_scan_zephyr,seed=1"),
        ("", "default"),
        ("..", "__"),
    ],
)
def test_safe_dirname_is_one_level(name, expected):
    assert safe_dirname(name) == expected


def test_safe_dirname_keeps_long_names_legal_and_distinct():
    a, b = safe_dirname("x=" + "a" * 400), safe_dirname("x=" + "a" * 399 + "b")
    assert len(a.encode()) <= 255 and len(b.encode()) <= 255 and a != b
    assert a.startswith("x=aaa") and safe_dirname(a) == a, "a safe name stays as it is"


@pytest.mark.parametrize(
    "settings",
    [{}, {"kv_sep": ":", "item_sep": "__", "exclude_keys": ["method.learning_rate"]}],
)
def test_override_dirname_is_hydras(settings: dict):
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from align.config.store import register_configs
    from align.paths import conf_dir

    task = ["method=dpo", "method.learning_rate=1e-4", "experiment=pref_align_scan/zephyr", "method.beta=0.1"]
    hydra = [f"hydra.job.config.override_dirname.{key}={value}" for key, value in settings.items()]
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=task + hydra, return_hydra_config=True)
    pairs = [(o.key_or_group, o.input_line) for o in OverridesParser.create().parse_overrides(task)]
    assert override_dirname(pairs, **settings) == cfg.hydra.job.override_dirname
    assert safe_dirname(override_dirname(pairs, **settings)) == cfg.hydra.sweep.subdir
