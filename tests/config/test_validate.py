"""Validation: every group option composes and validates (or names what this machine lacks); TRL's fields are keys;
renamed handbook names move to the new ones; bad values are named."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from align.config.machine import check_machine
from align.config.trl_fields import trl_fields
from align.config.validate import validate
from align.errors import AlignError, ConfigError
from align.hardware.devices import visible_devices
from align.methods import METHODS
from align.paths import conf_dir
from tests.conftest import compose_cfg

GROUPS = ["model", "method", "data", "hardware", "peft", "tracking"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


ALL_OPTIONS = [(group, option) for group in GROUPS for option in options(group)]


def test_every_group_has_options():
    assert all(options(group) for group in GROUPS)
    assert {"sft", "dpo"} <= set(options("method"))


# Options that need more than this CPU machine: extra overrides to compose a valid config, and whether
# validation must refuse them here (no CUDA) with a message naming what they need.
EXTRA = {
    ("hardware", "ddp"): ["hardware.num_processes=2"],
    ("hardware", "fsdp"): ["hardware.num_processes=2"],
    ("data", "file"): [f"data.path={conf_dir() / 'data'}"],
    ("data", "mixture"): ["data.sources=[{path: HuggingFaceH4/ultrachat_200k, split: train_sft}]"],
    ("hardware", "fsdp_qlora"): ["peft=qlora"],
}
NEEDS_CUDA = {("hardware", "fsdp_qlora"): "CUDA", ("peft", "qlora"): "CUDA"}


@pytest.mark.parametrize(("group", "option"), ALL_OPTIONS, ids=[f"{g}={o}" for g, o in ALL_OPTIONS])
def test_every_option_composes_and_validates(group: str, option: str):
    cfg = compose_cfg(f"{group}={option}", *EXTRA.get((group, option), []))
    assert set(GROUPS) <= set(cfg.keys())
    assert OmegaConf.is_struct(cfg[group])
    validate(cfg)
    gpus = len(visible_devices())
    if (group, option) in NEEDS_CUDA and gpus == 0:
        with pytest.raises(AlignError, match=NEEDS_CUDA[(group, option)]):
            check_machine(cfg, gpus)
    elif cfg.hardware.distributed == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        with pytest.raises(AlignError, match="DeepSpeed"):
            check_machine(cfg, gpus)
    else:
        check_machine(cfg, gpus)


def test_default_is_the_embedded_tiny_setup():
    cfg = compose_cfg()
    assert cfg.model.name == "tiny" and cfg.model.name_or_path is None
    assert cfg.method.name == "sft" and cfg.data.name == "arithmetic" and cfg.hardware.name == "auto"


@pytest.mark.parametrize("method", ["sft", "dpo"])
def test_method_accepts_every_trl_field_under_trls_name(method: str):
    cfg = compose_cfg(f"method={method}")
    missing = set(trl_fields(METHODS[method].config)) - set(cfg.method.keys())
    assert not missing
    assert {"learning_rate", "max_steps", "per_device_train_batch_size"} <= set(cfg.method.keys())


def test_dpo_fields_include_beta_and_loss_type():
    cfg = compose_cfg("method=dpo", "method.beta=0.3", "method.loss_type=hinge")
    validate(cfg)
    assert cfg.method.beta == 0.3 and list(cfg.method.loss_type) == ["hinge"]


@pytest.mark.parametrize(
    ("old", "new", "value"),
    [("warmup_ratio", "warmup_steps", 0.1), ("max_seq_length", "max_length", 77),
     ("evaluation_strategy", "eval_strategy", "steps"), ("gradient_checkpointing", "activation_checkpointing", False)],
)
def test_renamed_handbook_fields_are_translated(old: str, new: str, value: float):
    cfg = compose_cfg("method=sft", f"method.{old}={value}")
    validate(cfg)
    assert cfg.method[new] == value and cfg.method[old] is None


def test_a_renamed_value_is_translated_and_a_wrong_one_named():
    cfg = compose_cfg("method=sft", "method.packing=true", "method.packing_strategy=ffd")  # the handbook's name
    validate(cfg)
    assert cfg.method.packing_strategy == "bfd"
    with pytest.raises(ConfigError, match="method.packing_strategy: 'fdd'. Expected one of bfd, bfd_split, wrapped"):
        validate(compose_cfg("method=sft", "method.packing_strategy=fdd"))


def test_liger_needs_cuda_and_its_package(monkeypatch: pytest.MonkeyPatch):
    from align.config import machine
    from align.errors import EnvironmentProblem

    cfg = compose_cfg("method.use_liger_kernel=true")
    validate(cfg)
    installed = {"liger_kernel": False}
    monkeypatch.setattr(machine, "_installed", lambda package: installed.get(package, True))
    with pytest.raises(EnvironmentProblem, match="has no CUDA GPU and no liger-kernel package. Set method.use_liger"):
        check_machine(cfg, 0)
    with pytest.raises(EnvironmentProblem, match="has no liger-kernel package"):
        check_machine(cfg, 8)
    installed["liger_kernel"] = True
    with pytest.raises(EnvironmentProblem, match="has no CUDA GPU\\. Set"):
        check_machine(cfg, 0)
    check_machine(cfg, 8)
    check_machine(compose_cfg("method.use_liger_kernel=false"), 0)


def test_a_new_name_set_explicitly_wins_over_trls_default_for_the_old_one():
    cfg = compose_cfg("method=sft", "method.activation_checkpointing=false")  # gradient_checkpointing stays TRL's true
    validate(cfg)
    assert cfg.method.activation_checkpointing is False and cfg.method.gradient_checkpointing is None


def test_a_bad_old_name_is_named_before_it_is_renamed():
    with pytest.raises(ConfigError, match="method.warmup_ratio: 1.5"):
        validate(compose_cfg("method=sft", "method.warmup_ratio=1.5"))


def test_a_method_yaml_must_extend_its_trainers_schema():
    cfg = compose_cfg("method=sft", "method.trainer=dpo")
    with pytest.raises(ConfigError, match="base_dpo"):
        validate(cfg)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("method.beta=-1", "method.beta"),
        ("method.beta=0", "method.beta"),
        ("method.learning_rate=-0.1", "method.learning_rate"),
        ("method.max_steps=-5", "method.max_steps"),
        ("method.per_device_train_batch_size=0", "method.per_device_train_batch_size"),
        ("method.gradient_accumulation_steps=0", "method.gradient_accumulation_steps"),
        ("method.num_train_epochs=0", "method.num_train_epochs"),
        ("method.loss_type=hinj", "method.loss_type"),
        ("method.lr_scheduler_type=cosin", "method.lr_scheduler_type"),
        ("method.optim=adamw_tourch", "method.optim"),
        ("method.label_smoothing=0.7", "method.label_smoothing"),
        ("method.warmup_ratio=1.5", "method.warmup_ratio"),
        ("method.output_dir=/tmp/x", "method.output_dir"),
        ("method.loss_weights=[0.5,0.5]", "method.loss_weights"),
        ("model.name_or_path=/nonexistent/model", "model.name_or_path"),
        ("model.name_or_path=not/a/hub/id", "model.name_or_path"),
        ("model.name_or_path=bad id with spaces", "model.name_or_path"),
        ("model.dtype=float8", "model.dtype"),
        ("hardware.device=tpu", "hardware.device"),
        ("hardware.num_processes=0", "hardware.num_processes"),
        ("data.num_train=0", "data.num_train"),
        ("data.operations=[/]", "data.operations"),
        ("peft.lora_dropout=1.5", "peft.lora_dropout"),
        ("+method.no_such_field=1", "method.no_such_field"),
    ],
)
def test_bad_values_name_the_key(override: str, key: str):
    cfg = compose_cfg("method=dpo", override)
    with pytest.raises(ConfigError) as raised:
        validate(cfg)
    message = str(raised.value)
    assert key in message
    assert "\n" not in message.strip()


def test_unknown_key_suggests_the_closest_names():
    cfg = compose_cfg("method=dpo", "+method.lerning_rate=1")
    with pytest.raises(ConfigError, match="method.learning_rate"):
        validate(cfg)


def test_model_dir_without_config_is_rejected(tmp_path: Path):
    cfg = compose_cfg(f"model.name_or_path={tmp_path}")
    with pytest.raises(ConfigError, match="config.json"):
        validate(cfg)


def test_valid_hub_id_passes_validation_without_network():
    validate(compose_cfg("model.name_or_path=HuggingFaceH4/zephyr-7b-beta"))


def test_hardware_made_for_a_peft_method_needs_it():
    with pytest.raises(ConfigError, match="hardware.requires_peft"):
        validate(compose_cfg("hardware=fsdp_qlora"))
    validate(compose_cfg("hardware=fsdp", "hardware.offload_params=true"))  # the same fields without the claim
