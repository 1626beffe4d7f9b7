"""dry_run=true: a plan from the model's config.json alone (no weights), which names what it could not fetch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli_env, run_align

# The handbook's 8-GPU node (GPUs are counted from CUDA_VISIBLE_DEVICES) with a Hub login; offline.
HANDBOOK_NODE = {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7", "HF_TOKEN": "hf_test_token_not_real",
                 "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
MISTRAL_7B_PARAMETERS = "7,241,732,096"


@pytest.fixture(scope="module")
def mistral_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding only Mistral 7B's config.json: all the plan needs of the model."""
    from transformers import MistralConfig

    path = tmp_path_factory.mktemp("mistral-7b")
    MistralConfig(architectures=["MistralForCausalLM"]).save_pretrained(path)
    return path


def plan(*overrides: str, tmp_path: Path) -> str:
    out = run_align(*overrides, "dry_run=true", f"hydra.run.dir={tmp_path / 'run'}", env=cli_env(**HANDBOOK_NODE))
    assert out.returncode == 0, out.stderr[-3000:]
    assert not (tmp_path / "run").exists()
    return out.stdout


def test_recipe_plan_from_a_local_config(mistral_config: Path, tmp_path: Path):
    out = plan("experiment=zephyr-7b-beta/dpo", f"model.name_or_path={mistral_config}", tmp_path=tmp_path)
    assert f"parameters:            {MISTRAL_7B_PARAMETERS} (trainable {MISTRAL_7B_PARAMETERS}" in out
    assert "memory per GPU:" in out and "DeepSpeed ZeRO-3, 8 process(es)" in out
    for part in ("weights", "gradients", "optimizer states", "activations"):
        assert f"    {part}" in out
    assert "    reference model" not in out  # its log-probs are precomputed (cache.ref_logps, on for DPO)
    assert "sharded over 8 (ZeRO-3)" in out and "16 sequences x 1024 tokens" in out
    assert "effective batch size:  128 = 8 per device x 2 accumulation x 8 process(es)" in out
    # no network: the data part names the dataset it could not fetch, and the plan still finishes
    data = next(line for line in out.splitlines() if line.startswith("  data:"))
    assert "not loaded" in data and "HuggingFaceH4/ultrafeedback_binarized" in data
    assert "push to Hub:           zephyr-7b-dpo-full (token from HF_TOKEN)" in out
    # bf16 weights plus ZeRO's fp32 master copy and Adam's two fp32 moments: 14 bytes per parameter
    checkpoints = next(line for line in out.splitlines() if line.startswith("  checkpoints:"))
    assert "every 100 steps and at the end; about 94.42 GiB each; 1 kept (method.save_total_limit=1)" in checkpoints


def test_plan_says_which_model_config_it_could_not_fetch(tmp_path: Path):
    out = plan("experiment=zephyr-7b-beta/dpo", tmp_path=tmp_path)
    assert "tuning:                none: the method's and TRL's own values" in out
    assert "could not fetch config.json of 'alignment-handbook/zephyr-7b-sft-full' (revision main)" in out
    assert "HF_HUB_OFFLINE=1" in out and "effective batch size:  128" in out


def test_qlora_plan_counts_the_adapters_on_the_base_of_a_local_adapter(mistral_config: Path, tmp_path: Path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": str(mistral_config),
        "r": 16, "lora_alpha": 16, "target_modules": ["q_proj"],
    }))
    out = plan("experiment=zephyr-7b-beta/dpo_qlora", f"model.name_or_path={adapter}", "peft=lora",
               tmp_path=tmp_path)
    assert f"base model of the LoRA adapter {adapter}" in out
    # r 128 on the seven projections of 32 layers
    assert f"parameters:            {MISTRAL_7B_PARAMETERS} (trainable 335,544,320, 4.63%)" in out
    assert "reference model" not in out  # the base with adapters disabled is the reference


def test_tiny_plan_estimates_a_cpu_process(tmp_path: Path):
    out = run_align("dry_run=true", "hardware=cpu", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "memory per process:" in out.stdout and "CPU, no mixed precision" in out.stdout
    assert "tokens per row:" in out.stdout and "optimizer steps:" in out.stdout
    assert "tuning:                tune/tiny/sft.yaml (the embedded tiny model's values" in out.stdout


def test_bad_data_stops_a_dry_run(tmp_path: Path):
    """Unreachable Hub data leaves a plan without it; data that cannot work for the method is an error."""
    rows = tmp_path / "unpaired.jsonl"
    rows.write_text('{"prompt": "a", "completion": "b", "label": true}\n' * 4)
    out = run_align("method=dpo", "data=file", f"data.path={rows}", "dry_run=true", f"hydra.run.dir={tmp_path / 'run'}")
    last = out.stderr.strip().splitlines()[-1]  # after the progress bars of reading the file
    assert out.returncode == 2 and last.startswith("align: error:") and "preference" in last
    assert not (tmp_path / "run").exists()
