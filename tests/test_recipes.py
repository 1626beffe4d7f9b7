"""The Alignment Handbook's recipes as experiments: each composes, validates and plans, and carries the handbook's
values.

The table below is written in the handbook's own argument names, copied from its recipe files
(recipes/<model>/<stage>/config_*.yaml at handbook commit c8f5bdf); the SmolLM recipes (commit 925acdf, in their
`dataset_mixture` layout) are the files themselves, in handbook_smollm.yaml. `align_values` translates them the way
the experiment files do, so a wrong value or a wrong translation both fail here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from omegaconf import OmegaConf

from align.errors import ConfigError, EnvironmentProblem
from align.paths import conf_dir
from align.run.prepare import check
from tests.conftest import cli_env, compose_cfg, run_align

ZEPHYR_TEMPLATE = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)
STARCHAT_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' "
    "+ '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
QLORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SFT_SPLITS, PREF_SPLITS = ["train_sft", "test_sft"], ["train_prefs", "test_prefs"]
ZERO3_8 = {"accelerate": "zero3", "num_processes": 8}

# recipe -> the handbook's values (its argument names), plus the accelerate config and GPU count it used.
HANDBOOK: dict[str, dict[str, Any]] = {
    "zephyr-7b-beta/sft": {
        **ZERO3_8, "model_name_or_path": "mistralai/Mistral-7B-v0.1", "model_revision": "main",
        "torch_dtype": "bfloat16", "chat_template": ZEPHYR_TEMPLATE,
        "dataset_mixer": {"HuggingFaceH4/ultrachat_200k": 1.0}, "dataset_splits": SFT_SPLITS,
        "bf16": True, "learning_rate": 2.0e-5, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
        "num_train_epochs": 1, "per_device_train_batch_size": 16, "gradient_accumulation_steps": 1,
        "max_seq_length": 2048, "gradient_checkpointing": True, "hub_model_id": "zephyr-7b-sft-full",
        "push_to_hub": True, "eval_strategy": "epoch",
    },
    "zephyr-7b-beta/dpo": {
        **ZERO3_8, "model_name_or_path": "alignment-handbook/zephyr-7b-sft-full", "torch_dtype": None,
        "dataset_mixer": {"HuggingFaceH4/ultrafeedback_binarized": 1.0}, "dataset_splits": PREF_SPLITS,
        "bf16": True, "beta": 0.01, "learning_rate": 5.0e-7, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
        "num_train_epochs": 1, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2,
        "max_length": 1024, "optim": "adamw_torch", "gradient_checkpointing": True,
        "hub_model_id": "zephyr-7b-dpo-full", "push_to_hub": True, "eval_steps": 100,
    },
    "zephyr-7b-beta/sft_qlora": {
        "accelerate": "single", "model_name_or_path": "mistralai/Mistral-7B-v0.1", "model_revision": "main",
        "torch_dtype": "bfloat16", "load_in_4bit": True, "use_peft": True, "lora_r": 16, "lora_alpha": 16,
        "lora_dropout": 0.05, "lora_target_modules": QLORA_TARGETS, "chat_template": ZEPHYR_TEMPLATE,
        "dataset_mixer": {"HuggingFaceH4/ultrachat_200k": 1.0}, "dataset_splits": SFT_SPLITS,
        "bf16": True, "learning_rate": 2.0e-4, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
        "num_train_epochs": 1, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2,
        "max_seq_length": 2048, "gradient_checkpointing": True, "hub_model_id": "zephyr-7b-sft-qlora",
        "push_to_hub": True,
    },
    "zephyr-7b-beta/dpo_qlora": {
        "accelerate": "single", "model_name_or_path": "alignment-handbook/zephyr-7b-sft-qlora",
        "torch_dtype": "bfloat16", "load_in_4bit": True, "use_peft": True, "lora_r": 128, "lora_alpha": 128,
        "lora_dropout": 0.05, "lora_target_modules": QLORA_TARGETS,
        "dataset_mixer": {"HuggingFaceH4/ultrafeedback_binarized": 1.0}, "dataset_splits": PREF_SPLITS,
        "bf16": True, "beta": 0.01, "learning_rate": 5.0e-6, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
        "num_train_epochs": 1, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 4,
        "max_length": 1024, "optim": "paged_adamw_32bit", "gradient_checkpointing": True,
        "hub_model_id": "zephyr-7b-dpo-qlora", "push_to_hub": True,
    },
    "zephyr-7b-gemma/sft": {
        **ZERO3_8, "model_name_or_path": "google/gemma-7b", "model_revision": "main",
        "tokenizer_name_or_path": "philschmid/gemma-tokenizer-chatml", "torch_dtype": "bfloat16",
        "dataset_mixer": {"HuggingFaceH4/deita-10k-v0-sft": 1.0}, "dataset_splits": SFT_SPLITS,
        "bf16": True, "learning_rate": 2.0e-5, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
        "num_train_epochs": 3, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 4,
        "max_seq_length": 2048, "gradient_checkpointing": True, "hub_model_id": "zephyr-7b-gemma-sft",
        "push_to_hub": True, "save_strategy": "no",
    },
    "zephyr-7b-gemma/dpo": {
        **ZERO3_8, "model_name_or_path": "HuggingFaceH4/zephyr-7b-gemma-sft-v0.1", "torch_dtype": "bfloat16",
        "dataset_mixer": {"argilla/dpo-mix-7k": 1.0}, "dataset_splits": ["train", "test"],
        "bf16": True, "beta": 0.05, "learning_rate": 5.0e-7, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
        "num_train_epochs": 2, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 8,
        "max_length": 1024, "optim": "adamw_torch", "gradient_checkpointing": True,
        "hub_model_id": "zephyr-7b-gemma-dpo", "push_to_hub": True,
    },
    "constitutional-ai/sft": {
        **ZERO3_8, "model_name_or_path": "mistralai/Mistral-7B-v0.1", "torch_dtype": "bfloat16",
        "chat_template": ZEPHYR_TEMPLATE, "dataset_splits": SFT_SPLITS,
        "dataset_mixer": {"HuggingFaceH4/cai-conversation-harmless": 1.0, "HuggingFaceH4/ultrachat_200k": 1.0},
        "bf16": True, "learning_rate": 2.0e-5, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
        "num_train_epochs": 1, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 4,
        "max_seq_length": 2048, "gradient_checkpointing": True,
        "hub_model_id": "mistral-7b-sft-constitutional-ai", "push_to_hub": True,
    },
    "constitutional-ai/sft_grok": {
        **ZERO3_8, "model_name_or_path": "mistralai/Mistral-7B-v0.1", "torch_dtype": "bfloat16",
        "chat_template": ZEPHYR_TEMPLATE, "dataset_splits": SFT_SPLITS,
        "dataset_mixer": {"HuggingFaceH4/grok-conversation-harmless": 0.15, "HuggingFaceH4/ultrachat_200k": 1.0},
        "bf16": True, "learning_rate": 2.0e-5, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
        "num_train_epochs": 1, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 4,
        "max_seq_length": 2048, "gradient_checkpointing": True,
        "hub_model_id": "mistral-7b-sft-constitutional-ai", "push_to_hub": True,
    },
    "constitutional-ai/dpo": {
        **ZERO3_8, "model_name_or_path": "alignment-handbook/mistral-7b-sft-constitutional-ai",
        "torch_dtype": None, "dataset_splits": PREF_SPLITS,
        "dataset_mixer": {"HuggingFaceH4/ultrafeedback_binarized": 1.0, "HuggingFaceH4/cai-conversation-harmless": 1.0},
        "bf16": True, "beta": 0.1, "learning_rate": 5.0e-7, "lr_scheduler_type": "linear", "warmup_ratio": 0.1,
        "num_train_epochs": 3, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
        "max_length": 1024, "optim": "rmsprop", "gradient_checkpointing": True, "eval_steps": 1000,
        "hub_model_id": "mistral-7b-dpo-constitutional-ai", "push_to_hub": True,
    },
    "gpt2-nl/cpt": {
        "accelerate": "ddp", "num_processes": 4, "model_name_or_path": "gpt2", "model_revision": "main",
        "torch_dtype": "bfloat16", "dataset_mixer": {"yhavinga/mc4_nl_cleaned": 1.0}, "dataset_splits": ["train"],
        "dataset_configs": ["tiny"], "bf16": True, "learning_rate": 2.0e-4, "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.1, "num_train_epochs": 1, "per_device_train_batch_size": 16,
        "gradient_accumulation_steps": 1, "max_seq_length": 1024, "gradient_checkpointing": True,
        "hub_model_id": "gpt2-cpt-dutch", "push_to_hub": True, "eval_strategy": "no",
    },
    "gpt2-nl/sft": {
        "accelerate": "ddp", "num_processes": 4, "model_name_or_path": "BramVanroy/gpt2-cpt-dutch",
        "torch_dtype": "bfloat16", "chat_template": ZEPHYR_TEMPLATE,
        "dataset_mixer": {"BramVanroy/ultrachat_200k_dutch": 1.0}, "dataset_splits": SFT_SPLITS,
        "bf16": True, "learning_rate": 2.0e-5, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
        "num_train_epochs": 1, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1,
        "max_seq_length": 1024, "gradient_checkpointing": True, "hub_model_id": "gpt2-sft-dutch",
        "push_to_hub": True,
    },
    "gpt2-nl/dpo": {
        "accelerate": "ddp", "num_processes": 4, "model_name_or_path": "BramVanroy/gpt2-sft-dutch",
        "torch_dtype": "bfloat16", "dataset_mixer": {"BramVanroy/ultra_feedback_dutch": 1.0},
        "dataset_splits": PREF_SPLITS, "bf16": True, "beta": 0.1, "learning_rate": 5.0e-7,
        "lr_scheduler_type": "cosine", "warmup_ratio": 0.1, "num_train_epochs": 1, "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 8, "max_length": 1024, "optim": "adamw_torch", "gradient_checkpointing": True,
        "hub_model_id": "gpt2-dpo-dutch", "push_to_hub": True,
    },
    "starchat2-15b/sft": {
        **ZERO3_8, "model_name_or_path": "bigcode/starcoder2-15b", "torch_dtype": "bfloat16",
        "chat_template": STARCHAT_TEMPLATE, "dataset_splits": SFT_SPLITS,
        "dataset_mixer": {f"HuggingFaceH4/{name}": 1.0 for name in (
            "airoboros-3.2", "Code-Feedback", "orca-math-word-problems-200k", "SystemChat", "capybara")},
        "bf16": True, "learning_rate": 2.0e-5, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
        "num_train_epochs": 3, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2,
        "max_seq_length": 2048, "gradient_checkpointing": True, "hub_model_id": "starchat2-15b-v0.1",
        "push_to_hub": True, "dataset_num_proc": 24,
    },
    "starchat2-15b/dpo": {
        **ZERO3_8, "model_name_or_path": "HuggingFaceH4/starchat2-15b-sft-v0.1", "torch_dtype": "bfloat16",
        "dataset_mixer": {"HuggingFaceH4/ultrafeedback_binarized": 1.0, "HuggingFaceH4/orca_dpo_pairs": 1.0},
        "dataset_splits": PREF_SPLITS, "bf16": True, "beta": 0.05, "learning_rate": 5.0e-7,
        "lr_scheduler_type": "cosine", "warmup_ratio": 0.1, "num_train_epochs": 2, "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 8, "max_length": 1024, "optim": "adamw_torch", "gradient_checkpointing": True,
        "hub_model_id": "starchat2-15b-dpo-v0.1", "push_to_hub": True,
    },
    "zephyr-141b-A35b/orpo": {
        "accelerate": "fsdp", "num_processes": 8, "num_machines": 4,
        "model_name_or_path": "mistral-community/Mixtral-8x22B-v0.1", "model_revision": "main",
        "torch_dtype": "bfloat16", "chat_template": ZEPHYR_TEMPLATE,
        "dataset_mixer": {"argilla/distilabel-capybara-dpo-7k-binarized": 1.0}, "dataset_splits": ["train"],
        "bf16": True, "beta": 0.05, "learning_rate": 5.0e-6, "lr_scheduler_type": "inverse_sqrt",
        "warmup_steps": 100, "num_train_epochs": 3, "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 1, "max_length": 2048, "optim": "adamw_bnb_8bit",
        "gradient_checkpointing": True, "gradient_checkpointing_kwargs": {"use_reentrant": True},
        "hub_model_id": "zephyr-orpo-141b-A35b", "push_to_hub": True,
    },
    # The preference-alignment scan's shared values (owned by the sweep: beta and the loss are swept).
    "pref_align_scan/zephyr": {
        "model_name_or_path": "alignment-handbook/zephyr-7b-sft-full",
        "dataset_mixer": {"HuggingFaceH4/ultrafeedback_binarized": 1.0}, "dataset_splits": PREF_SPLITS,
        "learning_rate": 5.0e-7, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1, "num_train_epochs": 1,
        "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2, "optim": "adamw_torch",
        "gradient_checkpointing": True,
    },
    "pref_align_scan/openhermes": {
        "model_name_or_path": "teknium/OpenHermes-2.5-Mistral-7B",
        "dataset_mixer": {"HuggingFaceH4/orca_dpo_pairs": 1.0}, "dataset_splits": PREF_SPLITS,
        "learning_rate": 5.0e-7, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1, "num_train_epochs": 1,
        "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2, "optim": "adamw_torch",
        "gradient_checkpointing": True,
    },
}
# The SmolLM recipe files, whole: every key is translated below or named in NOT_CARRIED.
SMOLLM = yaml.safe_load((Path(__file__).parent / "handbook_smollm.yaml").read_text())
HANDBOOK.update({recipe: {**entry["file"], **entry["readme"]} for recipe, entry in SMOLLM.items()})
RECIPES = sorted(HANDBOOK)

# Handbook argument -> align key, where only the name changed.
RENAMED = {
    "model_name_or_path": "model.name_or_path", "model_revision": "model.revision",
    "tokenizer_name_or_path": "model.tokenizer_name_or_path", "chat_template": "model.chat_template",
    "warmup_ratio": "method.warmup_steps", "max_seq_length": "method.max_length", "lora_r": "peft.r",
    "lora_alpha": "peft.lora_alpha", "lora_dropout": "peft.lora_dropout", "lora_target_modules": "peft.target_modules",
    "num_processes": "hardware.num_processes", "num_machines": "hardware.num_machines",
    "trust_remote_code": "model.trust_remote_code", "run_name": "tracking.run_name",
}
ACCELERATE = {"zero3": ("deepspeed", 3), "ddp": ("ddp", None), "fsdp": ("fsdp", None), "single": ("no", None)}
DATA_KEYS = ("dataset_mixer", "dataset_splits", "dataset_configs", "dataset_mixture", "dataset_name",
             "dataset_config", "dataset_train_split", "dataset_test_split")
# Keys of the SmolLM files that the experiments leave out, as their headers say: align's run directory, log level
# and tracking; flash attention picked by auto; options TRL 1.16 no longer reads.
NOT_CARRIED = {"output_dir", "overwrite_output_dir", "log_level", "report_to", "attn_implementation",
               "dataset_kwargs", "max_prompt_length"}
RENAMED_VALUES = {("packing_strategy", "ffd"): "bfd"}  # TRL 0.20 renamed the same packing


def data_values(handbook: dict[str, Any]) -> dict[str, Any]:
    """data.* of the handbook's data arguments: dataset_mixer + dataset_splits (c8f5bdf), dataset_mixture or
    dataset_name (925acdf)."""
    if "dataset_mixture" in handbook:
        mixture = handbook["dataset_mixture"]
        sources = [{"path": d["id"], "config": d["config"], "split": d["split"], "test_split": None,
                    "columns": d["columns"], "weight": d["weight"]} for d in mixture["datasets"]]
        # without test_split_size the handbook returns a train split only
        return {"data.sources": sources, "data.test_split_size": mixture.get("test_split_size", 0),
                "data.seed": mixture.get("seed", 0)}
    if "dataset_name" in handbook:
        source = {"path": handbook["dataset_name"], "config": handbook.get("dataset_config"),
                  "split": handbook["dataset_train_split"], "test_split": handbook["dataset_test_split"], "weight": 1.0}
        return {"data.sources": [source]}
    splits = handbook.get("dataset_splits", [])
    train = next(s for s in splits if "train" in s)
    test = next((s for s in splits if "test" in s), None)
    configs = handbook.get("dataset_configs", [None])
    return {"data.sources": [
        {"path": path, "weight": weight, "split": train, "test_split": test, "config": configs[0]}
        for path, weight in handbook.get("dataset_mixer", {}).items()
    ]}


def align_values(handbook: dict[str, Any]) -> dict[str, Any]:
    """The handbook's values under align's keys, translated as the experiment files translate them."""
    values = data_values(handbook)
    if "dataset_mixture" in handbook or "dataset_name" in handbook:  # the SmolLM files: whole files
        values["model.chat_template"] = handbook.get("chat_template")  # none: the checkpoint's own
        if "hub_model_id" not in handbook:  # the Hub name the handbook derives from output_dir
            values["method.hub_model_id"] = Path(handbook["output_dir"]).name
    for key, value in handbook.items():
        if key in (*DATA_KEYS, "use_peft", "load_in_4bit") or key in NOT_CARRIED:
            continue
        value = RENAMED_VALUES.get((key, value), value) if isinstance(value, str) else value
        if key == "loss_type" and isinstance(value, str):
            values["method.loss_type"] = [value]  # a list in DPOConfig
        elif key == "accelerate":
            values["hardware.distributed"], stage = ACCELERATE[value]
            if stage is not None:
                values["hardware.zero_stage"] = stage
        elif key == "torch_dtype":
            values["model.dtype"] = value or "auto"  # null: the checkpoint's dtype, bf16 under DeepSpeed
        elif key == "bf16":
            values["hardware.mixed_precision"] = "bf16"
        elif key == "beta" or key not in RENAMED:
            values[f"method.{key}"] = value
        else:
            values[RENAMED[key]] = value
    if handbook.get("use_peft"):
        values["peft.method"] = "qlora" if handbook.get("load_in_4bit") else "lora"
    return values


def test_every_recipe_of_the_issue_is_an_experiment():
    found = {str(p.relative_to(conf_dir() / "experiment").with_suffix("")) for p in
             (conf_dir() / "experiment").rglob("*.yaml")}
    assert set(RECIPES) <= found


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_values_equal_the_handbooks(recipe: str):
    cfg = compose_cfg(f"experiment={recipe}")
    for key, expected in align_values(HANDBOOK[recipe]).items():
        actual = OmegaConf.select(cfg, key)
        if key == "data.sources":
            actual = [{k: OmegaConf.to_container(s)[k] for k in e} for s, e in zip(actual, expected, strict=False)]
            assert len(cfg.data.sources) == len(expected), f"{recipe}: {key}"
        elif OmegaConf.is_config(actual):
            actual = OmegaConf.to_container(actual)
        assert actual == expected, f"{recipe}: {key}"


@pytest.fixture
def handbook_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validate as on the handbook's 8-GPU node with a Hub login (GPUs are counted from CUDA_VISIBLE_DEVICES)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4,5,6,7")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_real")


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_composes_and_validates(recipe: str, handbook_node: None):
    import importlib.util

    cfg = compose_cfg(f"experiment={recipe}")
    if cfg.peft.method == "qlora" and importlib.util.find_spec("bitsandbytes") is None:
        with pytest.raises(EnvironmentProblem, match="bitsandbytes"):
            check(cfg)
    elif cfg.method.get("use_liger_kernel") and importlib.util.find_spec("liger_kernel") is None:
        with pytest.raises(EnvironmentProblem, match="need a CUDA GPU and the liger-kernel package"):
            check(cfg)
    elif cfg.hardware.distributed == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        with pytest.raises(EnvironmentProblem, match="pip install 'align\\[deepspeed\\]'"):
            check(cfg)
    elif cfg.judge is not None and "base_url" in cfg.judge:  # the scan's GPT-4 judge: offline, or no key, refused
        try:
            check(cfg)
        except ConfigError as error:
            assert "judge.base_url" in str(error) or "judge.api_key_env" in str(error)
    else:
        check(cfg)
        assert cfg.method.warmup_ratio is None  # the handbook's names are translated in the file itself


def test_cfg_job_shows_the_zephyr_dpo_recipe():
    """The issue's acceptance command: `python -m align experiment=zephyr-7b-beta/dpo --cfg job`."""
    out = run_align("experiment=zephyr-7b-beta/dpo", "--cfg", "job")
    assert out.returncode == 0, out.stderr[-2000:]
    job = yaml.safe_load(out.stdout)
    assert job["model"]["name_or_path"] == "alignment-handbook/zephyr-7b-sft-full"
    assert job["data"]["name"] == "ultrafeedback_binarized"
    method = job["method"]
    assert (method["beta"], method["learning_rate"], method["lr_scheduler_type"]) == (0.01, 5.0e-7, "cosine")
    assert (method["per_device_train_batch_size"], method["gradient_accumulation_steps"]) == (8, 2)


# ------------------------------------------------------------------------------------------- push_to_hub


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)


def test_push_without_a_token_is_refused_before_training(no_token: None):
    cfg = compose_cfg("method.push_to_hub=true", "method.hub_model_id=me/tiny")
    with pytest.raises(ConfigError, match=r"needs a Hugging Face token.*method.push_to_hub=false"):
        check(cfg)


def test_push_without_a_repository_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_real")
    with pytest.raises(ConfigError, match="needs method.hub_model_id"):
        check(compose_cfg("method.push_to_hub=true"))


@pytest.mark.parametrize("token", ["env", "config"])
def test_a_token_from_the_environment_or_config_is_enough(no_token: None, monkeypatch: pytest.MonkeyPatch,
                                                          token: str):
    overrides = ["method.push_to_hub=true", "method.hub_model_id=me/tiny"]
    if token == "env":
        monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_real")
    else:
        overrides.append("method.hub_token=hf_test_token_not_real")
    cfg = compose_cfg(*overrides)
    check(cfg)
    assert cfg.method.push_to_hub is True and cfg.method.hub_model_id == "me/tiny"  # passed to TRL's config as is


def test_cli_refuses_a_recipe_push_without_a_token_and_writes_nothing(tmp_path: Path):
    env = cli_env(HF_HOME=str(tmp_path / "hf-home"), CUDA_VISIBLE_DEVICES="0,1,2,3,4,5,6,7")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH"):
        env.pop(name, None)
    out = run_align("experiment=gpt2-nl/dpo", f"hydra.run.dir={tmp_path / 'run'}", env=env)
    assert out.returncode == 2
    assert "needs a Hugging Face token" in out.stderr and "gpt2-dpo-dutch" in out.stderr
    assert not (tmp_path / "run").exists()
