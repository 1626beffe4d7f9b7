"""The handbook's SmolLM recipes (smollm, smollm2, smollm3): what `--cfg job` shows, a plan of each from its
model's config.json alone, the refusal of Liger on a CPU, and a two-step stand-in of each on the tiny default
with the recipe's own CPU-sensible method settings. Their values are checked in test_recipes.py."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import cli_env, compose_cfg, hub_metadata, run_align

SMOLLM = ["smollm/sft", "smollm2/sft", "smollm2/sft_smol", "smollm2/dpo", "smollm2/dpo_smol", "smollm3/mid",
          "smollm3/sft", "smollm3/dpo"]
# The handbook's 8-GPU node (GPUs are counted from CUDA_VISIBLE_DEVICES) with a Hub login; offline.
HANDBOOK_NODE = {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7", "HF_TOKEN": "hf_test_token_not_real"}
# Method settings of a recipe that a CPU stand-in on the tiny model keeps: the training features, not the lengths,
# batch sizes or Liger kernels that need the real model and GPUs.
CPU_SETTINGS = ("packing", "packing_strategy", "padding_free", "assistant_only_loss", "loss_type", "beta",
                "lr_scheduler_type", "lr_scheduler_kwargs", "warmup_steps", "max_grad_norm", "save_strategy",
                "save_steps", "save_total_limit")
QUICK = ("method.max_steps=2", "method.per_device_train_batch_size=8", "data.num_train=64", "data.num_test=16",
         "data.num_exact_match=0")


def test_cfg_job_shows_the_smollm3_apo_recipe():
    """The issue's acceptance command: `python -m align experiment=smollm3/dpo --cfg job`."""
    out = run_align("experiment=smollm3/dpo", "--cfg", "job")
    assert out.returncode == 0, out.stderr[-2000:]
    job = yaml.safe_load(out.stdout)
    model = job["model"]
    assert (model["name_or_path"], model["revision"]) == ("HuggingFaceTB/SmolLM3-3B-checkpoints", "it-SFT")
    method = job["method"]
    assert method["loss_type"] == ["apo_zero"] and (method["beta"], method["learning_rate"]) == (0.05, 1.0e-6)
    assert method["lr_scheduler_type"] == "cosine_with_min_lr" and method["lr_scheduler_kwargs"] == {"min_lr_rate": 0.1}
    assert method["padding_free"] is True and method["use_liger_kernel"] is True and method["max_length"] == 24576
    assert (method["save_steps"], method["max_grad_norm"]) == (0.5, 0.2)
    assert job["data"]["name"] == "smoltalk2-preference" and len(job["data"]["sources"]) == 2


def model_config_dir(root: Path, recipe: str) -> Path:
    """A directory holding only a config.json of the recipe's architecture (SmolLM3, or Llama for SmolLM 1 and 2)."""
    from transformers import LlamaConfig, SmolLM3Config

    path = root / recipe.replace("/", "-")
    small = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 4, "num_attention_heads": 4,
             "num_key_value_heads": 2}
    if recipe.startswith("smollm3"):
        SmolLM3Config(architectures=["SmolLM3ForCausalLM"], **small).save_pretrained(path)
    else:
        LlamaConfig(architectures=["LlamaForCausalLM"], vocab_size=49152, **small).save_pretrained(path)
    return path


@pytest.mark.parametrize("recipe", SMOLLM)
def test_every_smollm_recipe_plans_from_its_models_config(recipe: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    """dry_run=true: the plan from a config.json alone, the data from the Hub's metadata alone."""
    import datasets

    from align.plan.describe import describe
    from align.run.prepare import prepare

    for name, value in HANDBOOK_NODE.items():
        monkeypatch.setenv(name, value)
    overrides = [f"experiment={recipe}", "dry_run=true", f"model.name_or_path={model_config_dir(tmp_path, recipe)}"]
    cfg = compose_cfg(*overrides)
    splits = {s.split for s in cfg.data.sources} | {s.test_split for s in cfg.data.sources if s.test_split}
    monkeypatch.setattr(datasets, "load_dataset_builder", hub_metadata(dict.fromkeys(splits, 5000)))
    plan = describe(prepare(cfg, tmp_path / "run", overrides), tmp_path / "run")
    assert "parameters:" in plan and "memory per GPU:" in plan and "DeepSpeed ZeRO-3, 8 process(es)" in plan
    assert "row counts from the Hub's metadata; no rows downloaded" in plan
    assert "unknown" not in next(line for line in plan.splitlines() if "optimizer steps:" in line)
    liger = "liger kernel:" in plan
    assert liger == (recipe.startswith("smollm3") and importlib.util.find_spec("liger_kernel") is None)
    assert not (tmp_path / "run").exists()


def test_a_cpu_run_of_a_liger_recipe_is_refused_in_seconds(tmp_path: Path):
    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("liger_kernel") is not None:
        pytest.skip("about a machine without CUDA or liger-kernel")
    started = time.monotonic()
    out = run_align("experiment=smollm3/mid", f"hydra.run.dir={tmp_path / 'run'}",
                    env=cli_env(HF_TOKEN="hf_test_token_not_real"))
    assert out.returncode == 2 and time.monotonic() - started < 30
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("align: error: method.use_liger_kernel=true") and "liger-kernel package" in last
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()


def stand_in(recipe: str) -> list[str]:
    """`python -m align` overrides of the recipe's method with its CPU-sensible settings, on the tiny default."""
    cfg = compose_cfg(f"experiment={recipe}")
    values = OmegaConf.to_container(cfg.method)
    default = OmegaConf.to_container(compose_cfg(f"method={cfg.method.name}", "~tune").method)
    settings = [f"method.{key}={hydra_value(values[key])}" for key in CPU_SETTINGS
                if key in values and values[key] != default[key]]
    return [f"method={cfg.method.name}", "model=tiny", "data=arithmetic", *settings]


def hydra_value(value: object) -> str:
    """A value as a Hydra override writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{hydra_value(item)}" for key, item in value.items()) + "}"
    return f"'{value}'" if isinstance(value, str) else str(value)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", SMOLLM)
def test_a_stand_in_of_each_smollm_recipe_trains_two_steps(recipe: str, tmp_path: Path):
    overrides = stand_in(recipe)
    if recipe.startswith("smollm3"):
        assert any(o.startswith(("method.packing=", "method.loss_type=")) for o in overrides), overrides
    done = run_align(*overrides, *QUICK, f"hydra.run.dir={tmp_path / 'run'}")
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train_steps"] == 2 and metrics["method"] == compose_cfg(f"experiment={recipe}").method.name
