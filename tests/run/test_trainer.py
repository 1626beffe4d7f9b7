"""The TRL side of a run on the CPU: TRL arguments from method.* (run/trainer.py), LoRA adapters saved and
reloadable, merged weights with peft.merge, and bf16/flash-attention/QLoRA on a GPU (skipped without CUDA)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import prepared, run_align

TINY = ("method.max_steps=3", "data.num_test=32", "data.num_exact_match=4")


def finished(done, run_dir: Path) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((run_dir / "metrics.json").read_text())


def load_causal_lm(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path)


def test_trl_args_carry_every_method_value_and_no_align_key(tmp_path: Path):
    from align.run.trainer import trl_args

    run = prepared("method=dpo", "method.beta=0.25", "method.gradient_checkpointing=true")
    args = trl_args(run.cfg, run.method, tmp_path, on_cuda=False)
    assert type(args).__name__ == "DPOConfig" and args.beta == 0.25 and args.learning_rate == 5.0e-4
    assert args.activation_checkpointing is True  # the handbook's name moved to transformers 5's
    assert args.output_dir == str(tmp_path / "checkpoints") and args.use_cpu and args.report_to == []
    assert not (tmp_path / "checkpoints").exists()  # building the arguments writes nothing


@pytest.mark.parametrize(("overrides", "kwargs"), [
    (("model.revision=it-SFT", "cache.ref_logps=false"), {"revision": "it-SFT"}),  # TRL loads the reference
    (("model.revision=it-SFT",), None),  # the cache precomputes the reference log-probs: no reference model
    (("model.revision=it-SFT", "cache.ref_logps=false", "peft=lora"), None),  # the base without adapters
    (("cache.ref_logps=false",), None),  # main: TRL's own default
])
def test_a_reference_model_that_trl_loads_comes_from_the_policys_revision(tmp_path: Path, overrides: tuple,
                                                                          kwargs: dict | None):
    from align.run.trainer import trl_args

    run = prepared("method=dpo", *overrides)
    assert trl_args(run.cfg, run.method, tmp_path, on_cuda=False).model_init_kwargs == kwargs


def test_sft_settings_of_the_smollm3_recipes_reach_trl(tmp_path: Path):
    from align.run.trainer import trl_args

    run = prepared("method.packing=true", "method.packing_strategy=ffd", "method.padding_free=true",
                   "method.assistant_only_loss=true", "method.eos_token='<|end|>'", "method.use_liger_kernel=true",
                   "method.lr_scheduler_type=cosine_with_min_lr", "method.lr_scheduler_kwargs={min_lr_rate: 0.1}",
                   "method.save_steps=0.05", "method.max_grad_norm=0.2", "dry_run=true")
    args = trl_args(run.cfg, run.method, tmp_path, on_cuda=False)
    assert (args.packing, args.packing_strategy, args.padding_free) == (True, "bfd", True) and args.assistant_only_loss
    assert (args.eos_token, args.use_liger_kernel, args.save_steps, args.max_grad_norm) == ("<|end|>", True, 0.05, 0.2)
    assert args.lr_scheduler_type == "cosine_with_min_lr" and args.lr_scheduler_kwargs == {"min_lr_rate": 0.1}


def test_trl_args_refused_by_trl_are_one_paragraph(tmp_path: Path):
    from align.errors import ConfigError
    from align.run.trainer import trl_args

    run = prepared("method=dpo", "method.eval_strategy=steps", "method.eval_steps=5", "method.save_steps=7",
                   "method.load_best_model_at_end=true")
    with pytest.raises(ConfigError, match="TRL's DPOConfig rejected this run's method settings"):
        trl_args(run.cfg, run.method, tmp_path, on_cuda=False)


@pytest.mark.slow
def test_dpo_with_lora_saves_a_reloadable_adapter_and_needs_no_reference_copy(tmp_path: Path):
    from peft import AutoPeftModelForCausalLM

    done = run_align("method=dpo", "peft=lora", "peft.r=4", *TINY, "hydra.run.dir=R", cwd=tmp_path)
    finished(done, tmp_path / "R")
    model_dir = tmp_path / "R" / "model"
    adapter = json.loads((model_dir / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and adapter["peft_type"] == "LORA"
    assert not (model_dir / "model.safetensors").exists()  # the adapter only, not a second full copy
    reloaded = AutoPeftModelForCausalLM.from_pretrained(model_dir)
    assert any("lora_A" in name for name, _ in reloaded.named_parameters())
    # TRL disables the adapter for reference log-probs instead of loading a second model (without LoRA
    # the policy and the reference each show a finished weight-loading bar)
    assert done.stderr.count("Loading weights: 100%") == 1


@pytest.mark.slow
def test_lora_merge_saves_full_weights(tmp_path: Path):
    done = run_align("method=sft", "peft=lora", "peft.merge=true", *TINY, "hydra.run.dir=R", cwd=tmp_path)
    finished(done, tmp_path / "R")
    assert not (tmp_path / "R" / "model" / "adapter_config.json").exists()
    model = load_causal_lm(tmp_path / "R" / "model")
    assert not any("lora" in name for name, _ in model.named_parameters())


