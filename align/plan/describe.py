"""The dry-run plan: parameters and memory per device from the model's config.json alone (no weights), the
effective batch and steps, the data with its sizes, the checkpoints' disk, which tuning file applied, and the
evaluations with their judge. It reads what validation prepared (run/prepare.py) and has no side effects. What
cannot be fetched is named, and the rest still prints."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from align.errors import AlignError
from align.eval.run import plan_lines as eval_plan_lines
from align.eval.run import selected

SAMPLE_ROWS = 256
_COLUMN = 25  # labels are padded to this width so the values line up


def describe(prepared: Any, run_dir: Path) -> str:
    cfg, method = prepared.cfg, prepared.method
    lines = [f"Plan for method={cfg.method.name} (trainer {method.name}), model {_model_name(cfg.model)}",
             line("tuning", _tuning(cfg))]
    if not method.trains:  # rejection sampling generates, evaluate evaluates: neither trains
        lines += [*method.own_module().plan_lines(prepared), "Dry run: nothing generated, nothing written."]
        return "\n".join(lines)
    effective = effective_batch(cfg.method, prepared.hardware.world_size)
    rows = prepared.train_rows
    model_lines, arch = _model_lines(prepared)
    lines += [
        *model_lines,
        line("effective batch size", f"{effective} = {cfg.method.per_device_train_batch_size} per device "
             f"x {cfg.method.gradient_accumulation_steps} accumulation x {prepared.hardware.world_size} process(es)"),
        *_data_lines(prepared),
        line("optimizer steps", _steps(cfg.method, rows, effective)),
        _checkpoints_line(prepared, arch, total_steps(cfg.method, rows, effective), run_dir),
    ]
    if prepared.resume_from is not None:
        lines.append(line("resumes from", str(prepared.resume_from)))
    lines += _machine_lines(prepared)
    if selected(cfg):
        lines += eval_plan_lines(prepared, selected(cfg))
    if cfg.method.get("push_to_hub"):
        from align.run.hub import token_source

        source = token_source(cfg.method)
        token = f"token from {source}" if source else "NO TOKEN FOUND: a real run stops here; set HF_TOKEN"
        lines.append(line("push to Hub", f"{cfg.method.hub_model_id} ({token})"))
    lines.append("Dry run: nothing trained, nothing written.")
    return "\n".join(lines)


def _machine_lines(prepared: Any) -> list[str]:
    """What a run of this plan needs that this machine lacks (validation skips these checks in a dry run)."""
    from align.config.machine import liger_lacking

    lacking = liger_lacking(prepared.cfg, prepared.hardware.gpus)
    if not lacking:
        return []
    return [line("liger kernel", f"method.use_liger_kernel=true needs a CUDA GPU and the liger-kernel package; "
                 f"this machine has no {' and no '.join(lacking)}, so a run here is refused")]


def line(label: str, value: str) -> str:
    """One `label: value` line of the plan, values aligned."""
    return f"  {label + ':':<{_COLUMN - 2}}{value}"


def _model_name(model: DictConfig) -> str:
    if model.name_or_path is None:
        return f"{model.name} (built in)"
    on_hub = not Path(model.name_or_path).expanduser().exists()  # a local directory has no revisions
    return model.name_or_path + (f" at revision {model.revision}" if on_hub and model.revision != "main" else "")


def _tuning(cfg: DictConfig) -> str:
    if cfg.get("tuning"):
        return f"{cfg.tuning} (the embedded tiny model's values; command-line overrides win)"
    return "none: the method's and TRL's own values"


def effective_batch(method: DictConfig, world_size: int) -> int:
    """Sequences per optimizer step over all processes."""
    return method.per_device_train_batch_size * method.gradient_accumulation_steps * world_size


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
    steps = f"{total_steps(method, rows, effective)} ({per_epoch} per epoch, {method.num_train_epochs} epoch(s))"
    if method.get("packing") and method.max_steps <= 0:
        # a packed sequence holds several rows: the blocks are counted only once the rows are tokenized
        steps += f" at most: packing rows into blocks of {method.max_length} tokens makes fewer"
    return steps


def _checkpoints_line(prepared: Any, arch: Any, steps: int | None, run_dir: Path) -> str:
    from align.plan.disk import checkpoint_space
    from align.plan.memory import on_gpu

    cfg = prepared.cfg
    if cfg.method.get("save_strategy") == "no":
        return line("checkpoints", "none (method.save_strategy=no): an interrupted run starts over")
    if arch is None:
        return line("checkpoints", "size unknown without the model's config.json")
    space = checkpoint_space(cfg, on_gpu(cfg, prepared.hardware), arch, steps, run_dir)
    return line("checkpoints", space.describe())


# ------------------------------------------------------------------------------------------------- model


def _model_lines(prepared: Any) -> tuple[list[str], Any]:
    """Lines about the model, parameters and memory, and its memory.Architecture (None when unknown)."""
    from align.plan import memory
    from align.plan.memory import readable_size as size
    from align.plan.model_config import ConfigUnavailable, model_config

    cfg, plan = prepared.cfg, prepared.hardware
    try:
        config, source = model_config(cfg.model)
    except ConfigUnavailable as error:
        return [line("model", str(error)), line("parameters", "unknown (no config.json)")], None
    try:
        arch = memory.architecture(config, cfg.peft, cfg.model.trust_remote_code)
    except ValueError as error:  # a config transformers cannot build as a causal LM
        return [line("model", f"{source}: {' '.join(str(error).split())}"), line("parameters", "unknown")], None
    est = memory.estimate(prepared, arch)
    trainable = arch.lora_params if cfg.peft.method != "none" else arch.params
    kind = (config.architectures or [config.model_type])[0]
    gpu = memory.on_gpu(cfg, plan)
    hw = cfg.hardware
    layout = {"deepspeed": f"DeepSpeed ZeRO-{hw.zero_stage}", "fsdp": "FSDP full shard", "ddp": "DDP"}.get(
        hw.distributed, "one process")
    lines = [
        line("model", f"{kind}: {arch.layers} layers, hidden {arch.hidden}, vocabulary {arch.vocab} "
             f"({source})"),
        line("parameters", f"{arch.params:,} (trainable {trainable:,}, {100 * trainable / arch.params:.2f}%)"),
        line("memory per GPU" if gpu else "memory per process", f"{size(est.total)} estimated: {layout}, "
             f"{plan.num_processes} process(es) x {plan.num_machines} machine(s), "
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


def _data_lines(prepared: Any) -> list[str]:
    """Lines about the data: each source, one rendered example and token lengths, or why it was not loaded."""
    cfg, kind = prepared.cfg, prepared.method.data_kind
    if prepared.data_counts is not None:
        from align.data.preview import counts

        found = prepared.data_counts
        where = " (row counts from the Hub's metadata; no rows downloaded)"
        return [*(f"  {text}" for text in counts(cfg.data, found.train, found.test, kind, found.sources, where)),
                line("data example", "not rendered: the rows were not downloaded (a run downloads them)"),
                line("tokens per row", "unknown without the rows")]
    if prepared.data is None:
        reason, sources = prepared.data_problem, _sources(cfg.data)
        named = any(source in reason for source in sources)  # the data layer's messages name the failing source
        return [line("data", f"not loaded{'' if named else ' (' + ', '.join(sources) + ')'}: {reason}")]
    from align.data.preview import describe as describe_data
    from align.model.load import load_tokenizer

    train = prepared.data.splits["train"]
    try:
        tokenizer = load_tokenizer(cfg.model, convert=False)
    except AlignError as error:
        test = prepared.data.splits.get("test")
        return [line("data", f"{cfg.data.name}, {len(train)} train / {len(test or [])} test rows ({kind} format)"),
                line("tokens per row", f"skipped, no tokenizer: {' '.join(str(error).split())}")]
    try:
        lines = [f"  {text}" for text in describe_data(cfg.data, prepared.data, kind, tokenizer)]
    except AlignError as error:
        lines = [line("data example", " ".join(str(error).split()))]
    return [*lines, line("tokens per row", _length_stats(tokenizer, train, cfg.method.get("max_length")))]


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
    kwargs = row.get("chat_template_kwargs") or {}  # the row's own template arguments, as TRL renders it
    texts = [tokenizer.apply_chat_template(row.get("prompt", []) + r, tokenize=False, **kwargs) for r in responses]
    return max((len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts), default=0)
