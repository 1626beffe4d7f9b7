"""Runs on the hardware options: DDP and FSDP2 relaunched across 2 CPU processes (align/hardware/launch.py),
ZeRO-3 in one, and the combinations refused before anything loads. GPU-only checks (bf16, flash-attention,
QLoRA, ZeRO-3 across GPUs) skip without CUDA."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import cli_env, run_align

TINY = ("method.max_steps=3", "data.num_test=32", "data.num_exact_match=4")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


gpu = pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")


def finished(done, run_dir: Path) -> dict:
    first_traceback = done.stderr.find("Traceback")  # a worker's own error comes before the launcher's
    assert done.returncode == 0, done.stderr[max(first_traceback, 0):][:3000] + "\n...\n" + done.stderr[-1500:]
    return json.loads((run_dir / "metrics.json").read_text())


def load_causal_lm(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path)


# ------------------------------------------------------------------------------ several CPU processes


@pytest.mark.slow
def test_ddp_two_cpu_processes_from_outside_the_checkout(tmp_path: Path):
    done = run_align("method=sft", "hardware=ddp", "hardware.num_processes=2", *TINY, "hydra.run.dir=R", cwd=tmp_path)
    metrics = finished(done, tmp_path / "R")
    assert metrics["world_size"] == 2 and metrics["train_steps"] == 3
    config = yaml.safe_load((tmp_path / "R" / "accelerate_config.yaml").read_text())
    assert config["num_processes"] == 2
    assert "accelerate launch --config_file" in (tmp_path / "R" / "launch_command.txt").read_text()
    assert load_causal_lm(tmp_path / "R" / "model").config.model_type == "llama"


@pytest.mark.slow
def test_fsdp2_dpo_two_cpu_processes_saves_a_consolidated_model(tmp_path: Path):
    done = run_align("method=dpo", "hardware=fsdp", "hardware.num_processes=2", *TINY, "hydra.run.dir=R", cwd=tmp_path)
    metrics = finished(done, tmp_path / "R")
    assert metrics["world_size"] == 2 and "eval_rewards/accuracies" in metrics
    assert "FSDP2 on CPU: 2 processes" in (tmp_path / "R" / "align.log").read_text()  # sharded, not plain DDP
    model = load_causal_lm(tmp_path / "R" / "model")
    assert sum(p.numel() for p in model.parameters()) > 500_000  # full weights, not one rank's shard


@pytest.mark.slow
def test_zero3_one_cpu_process_writes_a_loadable_model(tmp_path: Path):
    pytest.importorskip("deepspeed")
    done = run_align("method=sft", "hardware=zero3", "hardware.num_processes=1", *TINY, "hydra.run.dir=R",
                     cwd=tmp_path)
    metrics = finished(done, tmp_path / "R")
    assert metrics["world_size"] == 1
    model = load_causal_lm(tmp_path / "R" / "model")
    assert sum(p.numel() for p in model.parameters()) > 500_000  # gathered 16-bit weights, not ZeRO-3 stubs


# ------------------------------------------------------------------------ refused before anything loads


@pytest.mark.parametrize(
    ("overrides", "env", "message"),
    [
        (("method=sft", "peft=qlora"), {}, "needs a CUDA GPU and the bitsandbytes package"),
        (("hardware=fsdp_qlora", "peft=qlora"), {}, "bitsandbytes"),
        (("hardware=zero3", "hardware.num_processes=2"), {}, "1 for DeepSpeed without a GPU"),
        (("hardware=ddp",), {}, "a number of CPU processes for hardware=ddp"),
        (("hardware=fsdp",), {}, "a number of CPU processes for hardware=fsdp"),
        (("hardware=ddp", "hardware.num_processes=4"), {"CUDA_VISIBLE_DEVICES": "0,1"}, "at most the 2 visible GPU"),
        (("hardware=fsdp_qlora",), {}, "choose peft=qlora"),
        (("model.attn_implementation=flash_attention_2",), {}, "pip install flash-attn"),
        (("hardware.device=cuda",), {}, "no CUDA GPU is visible"),
    ],
    ids=["qlora-cpu", "fsdp_qlora-cpu", "zero3-2-cpu", "ddp-no-count", "fsdp-no-count", "more-procs-than-gpus",
         "fsdp_qlora-without-qlora", "flash-attn-missing", "cuda-missing"],
)
def test_invalid_hardware_is_refused_in_seconds(tmp_path: Path, overrides, env, message):
    if cuda_available():
        pytest.skip("these refusals are about a machine without CUDA")
    if "zero3" in overrides[0] and importlib.util.find_spec("deepspeed") is None:
        pytest.skip("DeepSpeed is not installed: its absence is the first thing refused")
    done = run_align(*overrides, "hydra.run.dir=R", cwd=tmp_path, env=cli_env(**env), timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("align: error:") and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "R").exists()


# ---------------------------------------------------------------------------------------- GPU only


@gpu
@pytest.mark.gpu
def test_bf16_on_gpu_by_default(tmp_path: Path):
    import torch

    if not torch.cuda.is_bf16_supported():
        pytest.skip("GPU without bf16")
    done = run_align("method=sft", *TINY, "hydra.run.dir=R", cwd=tmp_path)
    finished(done, tmp_path / "R")
    args = json.loads((tmp_path / "R" / "run_info.json").read_text())
    assert args["seed"] is not None
    assert torch.load(tmp_path / "R" / "model" / "training_args.bin", weights_only=False).bf16


@gpu
@pytest.mark.gpu
def test_flash_attention_on_gpu(tmp_path: Path):
    pytest.importorskip("flash_attn")
    done = run_align("method=sft", "model.attn_implementation=flash_attention_2", "model.dtype=bfloat16", *TINY,
                     "hydra.run.dir=R", cwd=tmp_path)
    finished(done, tmp_path / "R")


@gpu
@pytest.mark.gpu
def test_qlora_training_on_gpu(tmp_path: Path):
    pytest.importorskip("bitsandbytes")
    done = run_align("method=dpo", "peft=qlora", *TINY, "hydra.run.dir=R", cwd=tmp_path)
    finished(done, tmp_path / "R")
    assert (tmp_path / "R" / "model" / "adapter_config.json").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs CUDA GPUs")
def test_zero3_across_gpus(tmp_path: Path):
    import torch

    if torch.cuda.device_count() < 2:
        pytest.skip("needs at least 2 GPUs")
    pytest.importorskip("deepspeed")
    done = run_align("method=dpo", "hardware=zero3", "hardware.num_processes=2", *TINY, "hydra.run.dir=R",
                     cwd=tmp_path)
    assert finished(done, tmp_path / "R")["world_size"] == 2
    assert sum(p.numel() for p in load_causal_lm(tmp_path / "R" / "model").parameters()) > 500_000
