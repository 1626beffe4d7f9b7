"""The dry-run plan: parameters and memory per device from the model's config.json alone (no weights), the
effective batch and steps, and the data with its sizes. What cannot be fetched is named, and the rest still prints."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from align.errors import AlignError, SourceUnreachable

SAMPLE_ROWS = 256
_COLUMN = 25  # labels are padded to this width so the values line up


def describe(cfg: DictConfig, data_kind: str, run_dir: Path) -> str:
    method = cfg.method
    if "num_samples" in method:  # rejection sampling generates, it does not train
        return _describe_sampling(cfg, data_kind)
    from align.hardware import resolved, world_size

    settings, world = resolved(cfg.hardware), world_size(cfg.hardware)
    effective = effective_batch(cfg)
    data_lines, rows = _data_lines(cfg, data_kind)
    model_lines, arch = _model_lines(cfg, settings)
    lines = [
        f"Plan for method={method.name} (trainer {method.trainer}), model {_model_name(cfg.model)}",
        *model_lines,
        _line("effective batch size", f"{effective} = {method.per_device_train_batch_size} per device "
              f"x {method.gradient_accumulation_steps} accumulation x {world} process(es)"),
        *data_lines,
        _line("optimizer steps", _steps(method, rows, effective)),
        _checkpoints_line(cfg, arch, total_steps(method, rows, effective), run_dir),
    ]
    if method.get("push_to_hub"):
        from align.hub import token_source

        source = token_source(method)
        token = f"token from {source}" if source else "NO TOKEN FOUND: a real run stops here; set HF_TOKEN"
        lines.append(_line("push to Hub", f"{method.hub_model_id} ({token})"))
    lines.append("Dry run: nothing trained, nothing written.")
    return "\n".join(lines)


def _line(label: str, value: str) -> str:
    return f"  {label + ':':<{_COLUMN - 2}}{value}"


def _model_name(model: DictConfig) -> str:
    return model.name_or_path or f"{model.name} (built in)"


def effective_batch(cfg: DictConfig) -> int:
    """Sequences per optimizer step over all processes."""
    from align.hardware import world_size

    return cfg.method.per_device_train_batch_size * cfg.method.gradient_accumulation_steps * world_size(cfg.hardware)


def total_steps(method: DictConfig, rows: int | None, effective: int) -> int | None:
    """Optimizer steps of the whole run: method.max_steps, else the epochs over `rows`; None if neither is known."""
    if method.max_steps > 0:
        return method.max_steps
    return None if rows is None else math.ceil(math.ceil(rows / effective) * method.num_train_epochs)


def _steps(method: DictConfig, rows: int | None, effective: int) -> str:
    if rows is None:
        known = f"{method.max_steps} (method.max_steps)" if method.max_steps > 0 else "unknown"
        return f"{known}; steps per epoch need the data's size"
    per_epoch = math.ceil(rows / effective)
    return f"{total_steps(method, rows, effective)} ({per_epoch} per epoch, {method.num_train_epochs} epoch(s))"


def _checkpoints_line(cfg: DictConfig, arch: Any, steps: int | None, run_dir: Path) -> str:
    from align.checkpoint_space import checkpoint_space

    if cfg.method.get("save_strategy") == "no":
        return _line("checkpoints", "none (method.save_strategy=no): an interrupted run starts over")
    if arch is None:
        return _line("checkpoints", "size unknown without the model's config.json")
    return _line("checkpoints", checkpoint_space(cfg, arch, steps, run_dir).describe())


# ------------------------------------------------------------------------------------------------- model


class ConfigUnavailable(Exception):
    """The model's config.json could not be read; the message says from where and why."""


def model_config(model: DictConfig) -> tuple[Any, str]:
    """The model's transformers config (local directory or Hub, honouring HF_HUB_OFFLINE) and where it came from.

    A LoRA adapter (adapter_config.json, no config.json) gives its base model's config.
    """
    from transformers import AutoConfig

    from align.models import model_path

    path = model_path(model)
    try:
        config = AutoConfig.from_pretrained(path, revision=model.revision, trust_remote_code=model.trust_remote_code)
        return config, path
    except (OSError, ValueError) as error:
        base = _adapter_base(path, model.revision)
        if base is None:
            raise ConfigUnavailable(_fetch_failure(path, model.revision, error)) from None
    try:
        config = AutoConfig.from_pretrained(base, trust_remote_code=model.trust_remote_code)
    except (OSError, ValueError) as error:
        raise ConfigUnavailable(_fetch_failure(base, "main", error) + f" (the base model of adapter {path})") from None
    return config, f"{base}, base model of the LoRA adapter {path}"


def _adapter_base(path: str, revision: str) -> str | None:
    from peft import PeftConfig

    try:
        return PeftConfig.from_pretrained(path, revision=revision).base_model_name_or_path
    except (OSError, ValueError):
        return None


def _fetch_failure(path: str, revision: str, error: Exception) -> str:
    reason = " ".join(str(error).split())[:300].rstrip(".") or type(error).__name__
    offline = " (HF_HUB_OFFLINE=1: only the local cache was searched)" if os.environ.get("HF_HUB_OFFLINE") else ""
    return (
        f"could not fetch config.json of {path!r} (revision {revision}){offline}: {reason}. Parameters and memory "
        f"need only that file: `hf download {path} config.json`, or set model.name_or_path to a local directory "
        "holding it."
    )


def _model_lines(cfg: DictConfig, settings: dict[str, Any]) -> tuple[list[str], Any]:
    """Lines about the model, parameters and memory, and its memory.Architecture (None when unknown)."""
    from align import memory
    from align.memory import readable_size as size

    try:
        config, source = model_config(cfg.model)
    except ConfigUnavailable as error:
        return [_line("model", str(error)), _line("parameters", "unknown (no config.json)")], None
    try:
        arch = memory.architecture(config, cfg.peft, cfg.model.trust_remote_code)
    except ValueError as error:  # a config transformers cannot build as a causal LM
        return [_line("model", f"{source}: {' '.join(str(error).split())}"), _line("parameters", "unknown")], None
    est = memory.estimate(cfg, arch)
    trainable = arch.lora_params if cfg.peft.method != "none" else arch.params
    kind = (config.architectures or [config.model_type])[0]
    gpu = memory.on_gpu(cfg)
    hw = cfg.hardware
    layout = {"deepspeed": f"DeepSpeed ZeRO-{hw.zero_stage}", "fsdp": "FSDP full shard", "ddp": "DDP"}.get(
        hw.distributed, "one process")
    lines = [
        _line("model", f"{kind}: {arch.layers} layers, hidden {arch.hidden}, vocabulary {arch.vocab} "
              f"(config.json of {source})"),
        _line("parameters", f"{arch.params:,} (trainable {trainable:,}, {100 * trainable / arch.params:.2f}%)"),
        _line("memory per GPU" if gpu else "memory per process", f"{size(est.total)} estimated: {layout}, "
              f"{settings['num_processes']} process(es) x {settings['num_machines']} machine(s), "
              f"{'GPU' if gpu else 'CPU'}, {memory.precision(cfg, gpu)} mixed precision"),
    ]
    for note, attr in (("weights", "weights"), ("reference model", "reference"), ("gradients", "gradients"),
                       ("optimizer states", "optimizer"), ("activations", "activations")):
        value = getattr(est, attr)
        if value or "offloaded" in est.notes[note]:
            lines.append(f"    {note:<19}{size(value):>10}  {est.notes[note]}")
    if est.offloaded:
        lines.append(f"    {'CPU (offloaded)':<19}{size(est.offloaded):>10}  per process, in host memory")
    if gpu:
        lines.append("    (not counted: the CUDA context and allocator fragmentation, typically 1-3 GiB)")
    return lines, arch


# -------------------------------------------------------------------------------------------------- data


def _data_lines(cfg: DictConfig, data_kind: str) -> tuple[list[str], int | None]:
    """Lines about the data and the number of train rows; None when the data could not be loaded."""
    from align import data as data_layer

    try:
        splits = data_layer.load_for_method(cfg.data, data_kind, cfg.method.name)
    except (SourceUnreachable, OSError) as error:  # the plan goes on without it; bad data stops it (exit 2)
        reason, sources = " ".join(str(error).split()), _sources(cfg.data)
        named = any(source in reason for source in sources)  # the data layer's messages name the failing source
        return [_line("data", f"not loaded{'' if named else ' (' + ', '.join(sources) + ')'}: {reason}")], None
    train, test = splits["train"], splits.get("test")
    try:
        from align.models import load_tokenizer

        tokenizer = load_tokenizer(cfg.model)
    except AlignError as error:
        tokenizer, skipped = None, " ".join(str(error).split())
    lines = [_line("data", f"{cfg.data.name}, {len(train)} train / {len(test or [])} test rows ({data_kind} format)")]
    summary = getattr(data_layer, "describe", None)  # the data layer's own lines: each source and one example
    if summary is not None and tokenizer is not None:
        try:
            lines = [f"  {line}" for line in summary(cfg.data, data_kind, tokenizer, cfg.method.name)]
        except AlignError as error:
            lines.append(_line("data example", " ".join(str(error).split())))
    if tokenizer is None:
        lines.append(_line("tokens per row", f"skipped, no tokenizer: {skipped}"))
    else:
        lines.append(_line("tokens per row", _length_stats(tokenizer, train, cfg.method.get("max_length"))))
    return lines, len(train)


def _sources(data: DictConfig) -> list[str]:
    if data.get("sources"):
        return [str(source.path) for source in data.sources]
    return [str(data.get("path") or f"data={data.name}")]


def _length_stats(tokenizer: Any, train: Any, max_length: int | None) -> str:
    lengths = sorted(_token_length(tokenizer, row) for row in train.select(range(min(SAMPLE_ROWS, len(train)))))
    too_long = sum(n > max_length for n in lengths) if max_length else 0
    p95 = lengths[int(0.95 * (len(lengths) - 1))]
    return (f"sample of {len(lengths)}: min {lengths[0]}, mean {sum(lengths) / len(lengths):.1f}, p95 {p95}, "
            f"max {lengths[-1]}; {too_long} longer than max_length={max_length}")


def _token_length(tokenizer: Any, row: dict[str, Any]) -> int:
    """Tokens of the full example as the trainer sees it (prompt plus the longest response)."""
    if "text" in row:
        return len(tokenizer(row["text"])["input_ids"])
    responses = [row[k] for k in ("completion", "chosen", "rejected", "messages") if k in row]
    texts = [tokenizer.apply_chat_template(row.get("prompt", []) + r, tokenize=False) for r in responses]
    return max((len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts), default=0)


def _describe_sampling(cfg: DictConfig, data_kind: str) -> str:
    from align.data import load_for_method

    method = cfg.method
    num_rows = len(load_for_method(cfg.data, data_kind, method.name)["train"])
    prompts = min(num_rows, method.num_prompts or num_rows)
    scorer = method.reward_model or "exact match with the data's reference completions"
    return "\n".join([
        f"Plan for method={method.name}, policy {_model_name(cfg.model)}",
        _line("prompts", f"{prompts} from {cfg.data.name} (train split)"),
        _line("completions", f"{prompts * method.num_samples:,} = {prompts} x {method.num_samples} samples, "
              f"at most {method.max_new_tokens} new tokens, temperature {method.temperature}"),
        _line("scored by", scorer),
        "Dry run: nothing generated, nothing written.",
    ])
