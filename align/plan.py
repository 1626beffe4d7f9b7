"""The dry-run plan: what a run would do, from the tokenizer and a sample of the data, without training."""

from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig

SAMPLE_ROWS = 256


def describe(cfg: DictConfig, data_kind: str) -> str:
    from align.models import load_tokenizer, model_path

    tokenizer = load_tokenizer(cfg.model)
    data = _load(cfg, data_kind)
    train = data["train"]
    method = cfg.method
    if "num_samples" in method:  # rejection sampling generates, it does not train
        return _describe_sampling(cfg, len(train))
    from align.hardware import resolved

    settings = resolved(cfg.hardware)
    world = settings["num_processes"] * settings["num_machines"]
    effective = method.per_device_train_batch_size * method.gradient_accumulation_steps * world
    steps_per_epoch = math.ceil(len(train) / effective)
    steps = method.max_steps if method.max_steps > 0 else math.ceil(steps_per_epoch * method.num_train_epochs)
    lengths = sorted(_token_length(tokenizer, row) for row in train.select(range(min(SAMPLE_ROWS, len(train)))))
    too_long = sum(n > method.max_length for n in lengths) if method.get("max_length") else 0
    lines = [
        f"Plan for method={method.name} (trainer {method.trainer}), model {model_path(cfg.model)}",
        f"  parameters:            {_parameter_count(cfg):,}",
        f"  data:                  {cfg.data.name}, {len(train)} train / {len(data.get('test') or [])} test rows "
        f"({data_kind} format)",
        f"  effective batch size:  {effective} = {method.per_device_train_batch_size} per device "
        f"x {method.gradient_accumulation_steps} accumulation x {world} process(es)",
        f"  optimizer steps:       {steps} ({steps_per_epoch} per epoch)",
        f"  tokens per row (sample of {len(lengths)}): min {lengths[0]}, mean {sum(lengths) / len(lengths):.1f}, "
        f"p95 {lengths[int(0.95 * (len(lengths) - 1))]}, max {lengths[-1]}; "
        f"{too_long} longer than max_length={method.get('max_length')}",
        "Dry run: nothing trained, nothing written.",
    ]
    return "\n".join(lines)


def _load(cfg: DictConfig, data_kind: str):
    from align.data import load_for_method

    return load_for_method(cfg.data, data_kind)


def _token_length(tokenizer: Any, row: dict[str, Any]) -> int:
    """Tokens of the full example as the trainer sees it (prompt plus the longest response)."""
    if "text" in row:
        return len(tokenizer(row["text"])["input_ids"])
    responses = [row[k] for k in ("completion", "chosen", "rejected", "messages") if k in row]
    texts = [tokenizer.apply_chat_template(row.get("prompt", []) + r, tokenize=False) for r in responses]
    return max((len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts), default=0)


def _parameter_count(cfg: DictConfig) -> int:
    """Parameters from the model's config alone, built on the meta device (no weights loaded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from align.models import model_path

    config = AutoConfig.from_pretrained(
        model_path(cfg.model), revision=cfg.model.revision, trust_remote_code=cfg.model.trust_remote_code
    )
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=cfg.model.trust_remote_code)
    return sum(p.numel() for p in model.parameters())


def _describe_sampling(cfg: DictConfig, num_rows: int) -> str:
    from align.models import model_path

    method = cfg.method
    prompts = min(num_rows, method.num_prompts or num_rows)
    scorer = method.reward_model or "exact match with the data's reference completions"
    return "\n".join([
        f"Plan for method={method.name}, policy {model_path(cfg.model)}",
        f"  prompts:               {prompts} from {cfg.data.name} (train split)",
        f"  completions:           {prompts * method.num_samples:,} = {prompts} x {method.num_samples} samples, "
        f"at most {method.max_new_tokens} new tokens, temperature {method.temperature}",
        f"  scored by:             {scorer}",
        "Dry run: nothing generated, nothing written.",
    ])
