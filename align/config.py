"""Typed schema of the composed config (dataclasses in Hydra's ConfigStore) and its validation.

Nothing here imports torch, transformers or TRL: composing, `--cfg job` and validation stay fast.
The `method` schemas are generated from TRL's own config classes (see trl_fields.py), so
`method.<field>` takes every TRL field under TRL's name.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from align.errors import ConfigError, EnvironmentProblem
from align.trl_fields import TRL_CONFIG_CLASSES, trl_fields

# ---------------------------------------------------------------------------------------------- schema


@dataclass
class TinyBuild:
    """Architecture of the built-in Llama-style model (used when model.name_or_path is null)."""

    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 3
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    max_position_embeddings: int = 128
    vocab_size: int = 384
    init_seed: int = 0


@dataclass
class ModelConfig:
    name: str = "custom"
    # Hub id (org/name) or local directory; null builds the tiny model described by `build`.
    name_or_path: str | None = None
    revision: str = "main"
    tokenizer_name_or_path: str | None = None
    dtype: str = "auto"
    attn_implementation: str = "auto"
    trust_remote_code: bool = False
    # Chat template: null uses the tokenizer's own; a named template (e.g. zephyr) or a Jinja string overrides it.
    chat_template: Optional[str] = None
    build: TinyBuild | None = None


@dataclass
class ArithmeticDataConfig:
    """Generated chat arithmetic ("What is 23 + 19?" -> "42") in every format a method needs."""

    name: str = "arithmetic"
    num_train: int = 2000
    # Held out from every stage (rejection sampling draws fresh problems beyond both splits).
    num_test: int = 1000
    max_operand: int = 99
    operations: list[str] = field(default_factory=lambda: ["+"])
    seed: int = 0
    # Held-out prompts answered by greedy generation for `eval_exact_match` (0 disables it).
    num_exact_match: int = 100


@dataclass
class FileDataConfig:
    """Rows from a local file or directory (json, jsonl, parquet, csv) in any format align adapts (docs/data.md)."""

    name: str = "file"
    path: Optional[str] = None
    # auto: detect the row format from the columns and the file format from the suffix. Or force one: a row
    # format (messages, sharegpt, alpaca, hh, trl, or a TRL format: sft, preference, unpaired, text) or a
    # file format (json, jsonl, parquet, csv).
    format: str = "auto"
    # Split to train on: a single file is `train`; a directory's files named train*/test* form splits.
    split: str = "train"
    # Split to evaluate on; null: hold out test_split_size of the train rows.
    test_split: Optional[str] = None
    # Fraction of rows held out as the test split (0: train on every row, no evaluation).
    test_split_size: float = 0.05
    seed: int = 0
    # Use at most this many rows (after shuffling with `seed`); null: all of them.
    max_samples: Optional[int] = None


@dataclass
class DataSource:
    """One source of a `data=mixture`: a Hub dataset id or a local file/directory."""

    path: str = MISSING
    # Fraction of this source's rows used, in (0, 1] (the handbook's dataset_mixer semantics).
    weight: float = 1.0
    split: str = "train"
    # Split to evaluate on (e.g. test_prefs); null: hold out data.test_split_size of the train rows.
    test_split: Optional[str] = None
    # Hub dataset configuration (subset) name.
    config: Optional[str] = None
    # Keep only these columns (null: all).
    columns: Optional[list[str]] = None
    # auto: detect from the columns; or a row or file format to force, as data=file's `format`.
    format: str = "auto"
    revision: Optional[str] = None


@dataclass
class MixtureDataConfig:
    """Several weighted sources converted to one format and concatenated (the handbook's dataset_mixer)."""

    name: str = "mixture"
    sources: list[DataSource] = field(default_factory=list)
    test_split_size: float = 0.05
    seed: int = 0
    max_samples: Optional[int] = None


@dataclass
class RejectionSamplingConfig:
    """Best-of-N sampling: `num_samples` completions per prompt, best and worst kept as a preference pair.

    Not a TRL trainer, so its keys are align's own, named like transformers' generation arguments.
    """

    name: str = "rejection_sampling"
    trainer: str = "rejection_sampling"
    num_samples: int = 8
    # Sequence-classification model (path or Hub id) that scores completions; null scores by exact match
    # with the data's reference completion (the verifiable reward of the arithmetic default).
    reward_model: Optional[str] = None
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    # Completions generated per forward batch (prompts x num_samples).
    generation_batch_size: int = 64
    # Use the first num_prompts train prompts; null: all of them.
    num_prompts: Optional[int] = None
    seed: int = 42


@dataclass
class HardwareConfig:
    """Where and how many processes train; multi-process options relaunch through accelerate."""

    name: str = "auto"
    # auto: CUDA when present, else CPU.
    device: str = "auto"
    # no (one process), ddp, deepspeed (ZeRO stage `zero_stage`) or fsdp (FSDP2, full shard).
    distributed: str = "no"
    # Processes per machine; null means one per visible GPU for multi-process options.
    num_processes: Optional[int] = None
    # auto: bf16 where the device supports it, else full precision. Explicit method.bf16/fp16 win.
    mixed_precision: str = "auto"
    zero_stage: int = 3
    offload_optimizer: bool = False
    offload_params: bool = False
    cpu_ram_efficient_loading: bool = False
    # Multi-node: filled from SLURM's environment (SLURM_NNODES, SLURM_NODEID, nodelist) when null.
    num_machines: Optional[int] = None
    machine_rank: Optional[int] = None
    main_process_ip: Optional[str] = None
    main_process_port: Optional[int] = None


@dataclass
class PeftConfig:
    """LoRA settings under peft's own names; `method: none` trains all weights, `qlora` adds 4-bit NF4."""

    name: str = "none"
    method: str = "none"
    r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: Any = "all-linear"
    bias: str = "none"
    merge: bool = False


@dataclass
class TrackingConfig:
    """Where metrics go besides metrics.json: W&B and/or TensorBoard, through the trainer's report_to."""

    name: str = "none"
    # Any of wandb, tensorboard (both at once: tracking=wandb_tensorboard).
    backends: list[str] = field(default_factory=list)
    # W&B project and entity (team or user; null: the account's default entity).
    project: str = "align"
    entity: str | None = None
    # W&B run group; null: the sweep directory (all jobs of a multirun share it), else the run directory.
    group: Optional[str] = None
    # W&B run name; null: the method and the job's swept overrides, e.g. dpo-beta=0.1.
    run_name: Optional[str] = None
    tags: list[str] = field(default_factory=list)


@dataclass
class CacheConfig:
    """What runs share through align's cache; see docs/performance.md (reference log-prob cache)."""

    # Store and reuse the reference model's log-probs (and the tokenized splits) of DPO/KTO runs across jobs.
    # null: on for methods with a reference model, unless method.sync_ref_model moves the reference.
    ref_logps: Optional[bool] = None
    # null: $ALIGN_CACHE_DIR/ref_logps, else ~/.cache/align/ref_logps.
    dir: Optional[str] = None


@dataclass
class AlignConfig:
    model: Any = MISSING
    method: Any = MISSING
    data: Any = MISSING
    hardware: Any = MISSING
    peft: Any = MISSING
    tracking: Any = MISSING
    cache: CacheConfig = field(default_factory=CacheConfig)
    dry_run: bool = False
    # auto: continue from the run directory's latest complete checkpoint, if any; never: train from scratch;
    # or a checkpoint directory to continue from (docs/resume.md).
    resume: str = "auto"


# Handbook/TRL argument names that current transformers/TRL renamed: old name -> new name.
RENAMED_FIELDS = {
    "warmup_ratio": "warmup_steps",  # transformers 5: warmup_steps < 1 is a ratio of total steps
    "max_seq_length": "max_length",  # TRL SFTConfig
    "evaluation_strategy": "eval_strategy",  # transformers 4.46
}

_OMEGACONF_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _method_schema(kind: str) -> type:
    """A dataclass with every field of TRL's config class for `kind`, plus align's own method keys."""
    fields: list[tuple[str, Any, Any]] = [
        ("name", str, field(default=kind)),
        # Module in align/methods that trains this method (ipo.yaml says `trainer: dpo`).
        ("trainer", str, field(default=kind)),
    ]
    for name, spec in trl_fields(kind).items():
        base = _OMEGACONF_TYPES.get(spec["type"], Any)
        annotation = Optional[base] if spec["optional"] and base is not Any else base
        default = spec["default"]
        if isinstance(default, (list, dict)):
            fields.append((name, annotation, field(default_factory=lambda d=default: type(d)(d))))
        else:
            fields.append((name, annotation, field(default=default)))
    for old in RENAMED_FIELDS:
        if old not in trl_fields(kind):
            fields.append((old, Optional[float] if old == "warmup_ratio" else Any, field(default=None)))
    return dataclasses.make_dataclass(f"{kind.upper()}MethodConfig", fields)


METHOD_SCHEMAS = {kind: _method_schema(kind) for kind in TRL_CONFIG_CLASSES}
for _schema in METHOD_SCHEMAS.values():
    # Make the generated classes importable by name, so pickled configs (sweep jobs in their own
    # processes) refer to these very classes instead of copies.
    _schema.__module__ = __name__
    globals()[_schema.__name__] = _schema
# Method schemas that are align's own (no TRL config class behind them).
OWN_METHOD_SCHEMAS = {"rejection_sampling": RejectionSamplingConfig}


def register_configs() -> None:
    """Store the schemas so conf/*.yaml can extend them (`defaults: [base_dpo, _self_]`)."""
    cs = ConfigStore.instance()
    cs.store(name="schema", node=AlignConfig)
    for kind, schema in METHOD_SCHEMAS.items():
        cs.store(group="method", name=f"base_{kind}", node=schema)
    for kind, schema in OWN_METHOD_SCHEMAS.items():
        cs.store(group="method", name=f"base_{kind}", node=schema)
    cs.store(group="model", name="base_model", node=ModelConfig)
    cs.store(group="data", name="base_arithmetic", node=ArithmeticDataConfig)
    cs.store(group="data", name="base_file", node=FileDataConfig)
    cs.store(group="data", name="base_mixture", node=MixtureDataConfig)
    cs.store(group="hardware", name="base_hardware", node=HardwareConfig)
    cs.store(group="peft", name="base_peft", node=PeftConfig)
    cs.store(group="tracking", name="base_tracking", node=TrackingConfig)


# ------------------------------------------------------------------------------------------ validation

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _non_negative(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


# method field -> (check, what is expected). Checked only where the method's TRL class has the field.
METHOD_RULES: dict[str, tuple[Any, str]] = {
    "learning_rate": (_positive, "a positive number, e.g. 2e-5"),
    "beta": (_positive, "a positive number, e.g. 0.1"),
    "num_train_epochs": (_positive, "a positive number of epochs"),
    "max_steps": (lambda v: v == -1 or v > 0, "a positive number of steps, or -1 to use num_train_epochs"),
    "per_device_train_batch_size": (_positive, "a positive integer"),
    "per_device_eval_batch_size": (_positive, "a positive integer"),
    "gradient_accumulation_steps": (_positive, "a positive integer"),
    "warmup_steps": (_non_negative, "a number of steps >= 0, or a ratio in [0, 1)"),
    "weight_decay": (_non_negative, "a number >= 0"),
    "max_grad_norm": (_non_negative, "a number >= 0"),
    "logging_steps": (_positive, "a positive number of steps"),
    "save_steps": (_positive, "a positive number of steps"),
    "eval_steps": (lambda v: v is None or _positive(v), "a positive number of steps, or null"),
    "save_total_limit": (lambda v: v is None or v > 0, "a positive number of checkpoints, or null"),
    "max_length": (lambda v: v is None or v > 0, "a positive number of tokens, or null"),
    "seed": (_non_negative, "an integer >= 0"),
    "label_smoothing": (lambda v: 0 <= v < 0.5, "a probability in [0, 0.5)"),
    "desirable_weight": (_positive, "a positive weight"),
    "undesirable_weight": (_positive, "a positive weight"),
    "warmup_ratio": (lambda v: v is None or 0 <= v < 1, "a ratio in [0, 1)"),
    # rejection_sampling
    "num_samples": (lambda v: v >= 2, "an integer >= 2 (best and worst of at least two completions)"),
    "temperature": (_positive, "a positive sampling temperature, e.g. 1.0"),
    "top_p": (lambda v: 0 < v <= 1, "a probability in (0, 1]"),
    "max_new_tokens": (_positive, "a positive number of tokens"),
    "generation_batch_size": (_positive, "a positive integer"),
    "num_prompts": (lambda v: v is None or v > 0, "a positive number of prompts, or null for all"),
}

_CHOICES = {
    ("model", "dtype"): ["auto", "float32", "bfloat16", "float16"],
    ("model", "attn_implementation"): ["auto", "eager", "sdpa", "flash_attention_2", "flash_attention_3"],
    ("hardware", "device"): ["auto", "cpu", "cuda"],
    ("hardware", "mixed_precision"): ["auto", "no", "bf16", "fp16"],
    ("hardware", "distributed"): ["no", "ddp", "deepspeed", "fsdp"],
    ("peft", "method"): ["none", "lora", "qlora"],
}


def _fail(key: str, value: Any, expected: str, hint: str = "") -> ConfigError:
    shown = "null" if value is None else repr(value)
    return ConfigError(f"Invalid value for {key}: {shown}. Expected {expected}.{(' ' + hint) if hint else ''}")


def closest(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """Names from `candidates` that look like `name` (for "did you mean" hints)."""
    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)
    return found or [c for c in candidates if name.lower() in c.lower()][:n]


def unknown_key_message(key: str, object_type: Any) -> str:
    """"Unknown config key" paragraph with the closest valid names of the node's schema."""
    leaf = key.rsplit(".", 1)[-1]
    valid = [f.name for f in dataclasses.fields(object_type)] if dataclasses.is_dataclass(object_type) else []
    near = closest(leaf, valid)
    parent = key.rsplit(".", 1)[0] if "." in key else "the top level"
    hint = f" Did you mean {', '.join(f'{parent}.{n}' if '.' in key else n for n in near)}?" if near else ""
    listing = f" `python -m align --cfg job` lists every valid key of {parent}." if valid else ""
    return f"Unknown config key {key!r}: {parent} has no field {leaf!r}.{hint}{listing}"


def _reject_unknown_keys(node: DictConfig, prefix: str) -> None:
    """`+group.key=value` slips past struct mode (Hydra force-adds it); catch such keys here."""
    schema = OmegaConf.get_type(node)
    if not dataclasses.is_dataclass(schema):
        return
    valid = {f.name for f in dataclasses.fields(schema)}
    for key in node:
        if key not in valid:
            raise ConfigError(unknown_key_message(f"{prefix}{key}", schema))
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_none():
            _reject_unknown_keys(child, f"{prefix}{key}.")


def _check_choices(cfg: DictConfig) -> None:
    for (group, key), allowed in _CHOICES.items():
        value = cfg[group].get(key)
        if value not in allowed:
            raise _fail(f"{group}.{key}", value, "one of " + ", ".join(allowed))


def _check_rules(method: DictConfig, keys: Any) -> None:
    for key in keys:
        if key in method and key in METHOD_RULES:
            check, expected = METHOD_RULES[key]
            try:
                ok = check(method[key])
            except TypeError:
                ok = False
            if not ok:
                raise _fail(f"method.{key}", method[key], expected)


def _check_method(method: DictConfig) -> None:
    kind_fields = trl_fields_for(method)
    _check_rules(method, METHOD_RULES)
    for key, spec in kind_fields.items():
        value = method.get(key)
        if spec["choices"] and value is not None:
            values = list(value) if isinstance(value, (list, ListConfig)) else [value]
            for item in values:
                if item not in spec["choices"]:
                    near = closest(str(item), spec["choices"])
                    hint = f"Did you mean {' or '.join(near)}?" if near else ""
                    raise _fail(f"method.{key}", item, "one of " + ", ".join(spec["choices"]), hint)
    if method.get("reward_model") is not None:
        _check_model_path("method.reward_model", method.reward_model)
    if method.get("output_dir") is not None:
        raise _fail(
            "method.output_dir",
            method.output_dir,
            "null: align writes checkpoints to <run dir>/checkpoints",
            "Choose the run directory with hydra.run.dir=DIR instead.",
        )
    weights, losses = method.get("loss_weights"), method.get("loss_type")
    if weights is not None and losses is not None:
        n_losses = len(losses) if isinstance(losses, (list, ListConfig)) else 1
        if len(weights) != n_losses:
            raise _fail("method.loss_weights", list(weights), f"one weight per loss in method.loss_type ({n_losses})")


def _check_resume(cfg: DictConfig) -> None:
    from align.resume import check_value

    if cfg.method.get("resume_from_checkpoint") is not None:
        raise _fail(
            "method.resume_from_checkpoint",
            cfg.method.resume_from_checkpoint,
            "null: align resumes through the top-level key resume",
            "Use resume=<checkpoint dir>, or resume=auto (the default) for the run directory's latest checkpoint.",
        )
    check_value(cfg.get("resume", "auto"))


def trl_fields_for(method: DictConfig) -> dict[str, dict[str, Any]]:
    """TRL field specs of the method's schema (found from its dataclass type); none for align's own methods."""
    schema = OmegaConf.get_type(method)
    for kind, cls in METHOD_SCHEMAS.items():
        if schema is cls:
            return trl_fields(kind)
    if schema in OWN_METHOD_SCHEMAS.values():
        return {}
    raise ConfigError(f"method.name={method.get('name')!r} does not extend a base_<kind> method schema.")


def _check_model(model: DictConfig) -> None:
    path = model.name_or_path
    if path is None and model.build is None:
        raise _fail("model.name_or_path", None, "a Hub id (org/name) or a local model directory")
    if path is not None:
        _check_model_path("model.name_or_path", path)
    if model.tokenizer_name_or_path is not None:
        _check_model_path("model.tokenizer_name_or_path", model.tokenizer_name_or_path, tokenizer=True)


def _check_model_path(key: str, value: str, tokenizer: bool = False) -> None:
    expanded = Path(value).expanduser()
    looks_like_path = value.startswith(("/", ".", "~")) or value.count("/") > 1 or "\\" in value
    if expanded.is_dir():
        marks = ("tokenizer_config.json", "tokenizer.json", "config.json") if tokenizer else (
            "config.json", "adapter_config.json")
        if not any((expanded / name).is_file() for name in marks):
            what = "a tokenizer directory with a tokenizer_config.json" if tokenizer else (
                "a model directory with a config.json (e.g. <run dir>/model)")
            raise _fail(key, value, what)
        return
    if expanded.exists():
        raise _fail(key, value, "a model directory, not a file")
    if looks_like_path or not _HUB_ID.match(value) or "--" in value or ".." in value:
        raise _fail(
            key,
            value,
            "an existing local model directory or a Hub id such as 'HuggingFaceH4/zephyr-7b-beta'",
            "No such directory exists.",
        )


def _translate_renamed(method: DictConfig) -> None:
    """Accept the handbook's older argument names and move their values to the current ones."""
    for old, new in RENAMED_FIELDS.items():
        if old in method and method[old] is not None:
            if new not in method:
                raise ConfigError(f"method.{old} is not used by method '{method.name}' (its field {new} is absent).")
            method[new] = method[old]
            method[old] = None


def _normalise_method(method: DictConfig) -> None:
    """TRL takes a bare string where it expects a list (`method.loss_type=hinge`); store the list."""
    for key, spec in trl_fields_for(method).items():
        if isinstance(spec["default"], list) and isinstance(method.get(key), str):
            method[key] = [method[key]]


def validate(cfg: DictConfig) -> None:
    """Check every value the user can set; raise ConfigError naming the key. Mutates renamed fields."""
    missing = [key for key in ("model", "method", "data", "hardware", "peft", "tracking") if key not in cfg]
    if missing:
        raise ConfigError(f"The composed config lacks the group(s) {', '.join(missing)}.")
    _reject_unknown_keys(cfg, "")
    from align.methods import available_trainers

    trainers = available_trainers()
    if cfg.method.trainer not in trainers:
        raise _fail("method.trainer", cfg.method.trainer, "one of " + ", ".join(sorted(trainers)))
    _check_choices(cfg)
    _check_model(cfg.model)
    _check_rules(cfg.method, RENAMED_FIELDS)
    with _writable(cfg.method):
        _translate_renamed(cfg.method)
        _normalise_method(cfg.method)
    _check_method(cfg.method)
    _check_resume(cfg)
    _check_hardware(cfg)
    if not cfg.dry_run:
        _check_machine(cfg)
    check_data(cfg.data, cfg.model.chat_template)
    if not 0 <= cfg.peft.lora_dropout < 1:
        raise _fail("peft.lora_dropout", cfg.peft.lora_dropout, "a probability in [0, 1)")
    for key in ("r", "lora_alpha"):
        if cfg.peft[key] < 1:
            raise _fail(f"peft.{key}", cfg.peft[key], "a positive integer")
    _check_tracking(cfg.tracking)
    if "cache" in cfg:
        from align.cache import ref_cache_for

        ref_cache_for(cfg)  # cache.ref_logps=true with a reference that moves during training is an error
    if not cfg.dry_run:  # the plan reports a missing token instead
        from align.hub import check_push_to_hub

        check_push_to_hub(cfg)


def check_data(data: DictConfig, chat_template: str | None = None) -> None:
    """Data values (and the chat template that renders the data) checked without reading any data."""
    from align.data import adapters, source_type, sources, templates
    from align.data.formats import FORMATS

    expected = templates.problem(chat_template)
    if expected:
        raise _fail("model.chat_template", chat_template, expected)
    for key in ("num_train", "num_test"):
        if key in data and data[key] < 1:
            raise _fail(f"data.{key}", data[key], "a positive number of examples")
    if "max_operand" in data and data.max_operand < 1:
        raise _fail("data.max_operand", data.max_operand, "a positive integer")
    for op in data.get("operations", []):
        if op not in ("+", "-", "*"):
            raise _fail("data.operations", op, "operators among '+', '-', '*'")
    of_type = source_type(data)
    if of_type not in ("file", "mixture"):
        return
    if not 0 <= data.test_split_size < 1:
        raise _fail("data.test_split_size", data.test_split_size, "a fraction of the rows in [0, 1), e.g. 0.05")
    if data.max_samples is not None and data.max_samples < 1:
        raise _fail("data.max_samples", data.max_samples, "a positive number of rows, or null for all")
    formats = ["auto", *adapters.FAMILIES, *(f for f in FORMATS if f != "prompt"), *sources.FILE_FORMATS]
    if of_type == "file":
        entries = [("data", data)]
        if data.path is None:
            raise _fail("data.path", None, "a local file or directory, e.g. data.path=data/alpaca_en_demo.json")
    else:
        entries = [(f"data.sources[{i}]", source) for i, source in enumerate(data.sources)]
        if not entries:
            raise _fail("data.sources", [], "a list of sources, e.g. 'data.sources=[{path: a.jsonl, weight: 0.5}]'")
    for key, source in entries:
        if OmegaConf.is_missing(source, "path") or source.path is None:
            raise _fail(f"{key}.path", None, "a Hub dataset id (org/name) or a local file or directory")
        if source.format not in formats:
            raise _fail(f"{key}.format", source.format, "one of " + ", ".join(formats))
        weight = source.get("weight", 1.0)
        if not (_positive(weight) and weight <= 1):
            raise _fail(
                f"{key}.weight",
                weight,
                "the fraction of the source's rows to use, in (0, 1]",
                "As in the handbook's dataset_mixer, 0.5 uses the first half of its rows and 1 all of them.",
            )
        problem = sources.path_problem(str(source.path), source.format, key, hub=of_type == "mixture")
        if problem:
            raise _fail(f"{key}.path", source.path, problem)


# W&B rejects these characters in project and entity names, and longer groups and tags.
_WANDB_NAME_FORBIDDEN = set("/\\#?%:")
TRACKING_BACKENDS = ("wandb", "tensorboard")


def _check_tracking(tracking: DictConfig) -> None:
    """Backends that exist and are installed; project, entity, group and tags that W&B accepts."""
    import importlib.util

    backends = list(tracking.backends)
    for backend in backends:
        if backend not in TRACKING_BACKENDS:
            near = closest(str(backend), list(TRACKING_BACKENDS))
            hint = f"Did you mean {' or '.join(near)}?" if near else ""
            raise _fail("tracking.backends", backend, "backends among " + ", ".join(TRACKING_BACKENDS), hint)
        if importlib.util.find_spec(backend) is None:
            raise EnvironmentProblem(
                f"tracking.backends lists {backend}, which is not installed: pip install 'align[{backend}]' "
                f"(or pip install {backend}), or choose tracking=none."
            )
    if len(set(backends)) != len(backends):
        raise _fail("tracking.backends", backends, "each backend at most once")
    for key in ("project", "entity"):
        value = tracking[key]
        if value is not None and (not str(value).strip() or _WANDB_NAME_FORBIDDEN & set(str(value))):
            raise _fail(f"tracking.{key}", value, "a non-empty W&B name without / \\ # ? % :")
    if tracking.group is not None and not 0 < len(tracking.group) <= 128:
        raise _fail("tracking.group", tracking.group, "a W&B group name of 1 to 128 characters, or null")
    for tag in tracking.tags:
        if not 0 < len(str(tag)) <= 64:
            raise _fail("tracking.tags", tag, "tags of 1 to 64 characters (W&B's limit)")


def _check_hardware(cfg: DictConfig) -> None:
    """Hardware and PEFT values and combinations that cannot work on any machine."""
    hw, peft = cfg.hardware, cfg.peft
    for key in ("num_processes", "num_machines"):
        if hw[key] is not None and hw[key] < 1:
            raise _fail(f"hardware.{key}", hw[key], "a positive number, or null")
    if hw.zero_stage not in (0, 1, 2, 3):
        raise _fail("hardware.zero_stage", hw.zero_stage, "a DeepSpeed ZeRO stage: 0, 1, 2 or 3")
    if hw.machine_rank is not None and not 0 <= hw.machine_rank < (hw.num_machines or 1):
        raise _fail("hardware.machine_rank", hw.machine_rank, "a rank from 0 to hardware.num_machines - 1")
    if hw.name == "fsdp_qlora" and peft.method != "qlora":
        raise ConfigError("hardware=fsdp_qlora shards 4-bit QLoRA models; choose peft=qlora with it.")
    if peft.method == "qlora" and hw.distributed == "deepspeed" and hw.zero_stage == 3:
        raise ConfigError(
            "peft=qlora with hardware=zero3 is not supported: 4-bit weights cannot be sharded by ZeRO-3 "
            "here. Use hardware=fsdp_qlora for several GPUs, or hardware=auto on one GPU."
        )
    if peft.method == "qlora" and peft.merge:
        raise _fail("peft.merge", True, "false with peft=qlora: 4-bit weights cannot be merged into the model")


def _check_machine(cfg: DictConfig) -> None:
    """What this machine must have for the run: GPUs, packages, process counts it can host.

    Skipped for `dry_run=true`, which plans a run for the hardware it names (e.g. a recipe's 8 GPUs).
    """
    import importlib.util

    from align.hardware import visible_gpus

    hw, peft = cfg.hardware, cfg.peft
    gpus = visible_gpus()
    if hw.device == "cuda" and gpus == 0:
        raise _fail("hardware.device", "cuda", "a device that exists: no CUDA GPU is visible", "Use hardware=cpu.")
    if peft.method == "qlora" and (gpus == 0 or hw.device == "cpu" or importlib.util.find_spec("bitsandbytes") is None):
        raise EnvironmentProblem(
            "peft=qlora loads the model in 4-bit NF4 through bitsandbytes, which needs a CUDA GPU and "
            "the bitsandbytes package (pip install bitsandbytes). Use peft=lora on this machine."
        )
    if hw.num_processes is not None and gpus and hw.device != "cpu" and hw.num_processes > gpus:
        raise _fail(
            "hardware.num_processes", hw.num_processes, f"at most the {gpus} visible GPU(s) of this machine"
        )
    if hw.distributed in ("ddp", "fsdp") and hw.num_processes is None and gpus == 0:
        raise _fail(
            "hardware.num_processes",
            None,
            f"a number of CPU processes for hardware={hw.name} on a machine without GPUs",
            "For example hardware.num_processes=2.",
        )
    if hw.distributed == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        raise EnvironmentProblem(
            f"hardware={hw.name} needs DeepSpeed, which is not installed: pip install 'align[deepspeed]' "
            "(or pip install deepspeed)."
        )
    if hw.distributed == "deepspeed" and gpus == 0 and (hw.num_processes or 1) * (hw.num_machines or 1) > 1:
        raise _fail(
            "hardware.num_processes",
            hw.num_processes,
            "1 for DeepSpeed without a GPU (its CPU backend runs one process here)",
            "Use hardware=ddp or hardware=fsdp for several CPU processes.",
        )
    attn = cfg.model.attn_implementation
    if attn == "flash_attention_2" and (gpus == 0 or importlib.util.find_spec("flash_attn") is None):
        raise EnvironmentProblem(
            "model.attn_implementation=flash_attention_2 needs a CUDA GPU and the flash-attn package "
            "(pip install flash-attn --no-build-isolation). Use model.attn_implementation=sdpa (or auto)."
        )


class _writable:
    """Temporarily lift read-only mode on a node (Hydra hands the task a read-only config)."""

    def __init__(self, node: DictConfig) -> None:
        self.node = node

    def __enter__(self) -> DictConfig:
        self.flag = self.node._get_node_flag("readonly")
        OmegaConf.set_readonly(self.node, False)
        return self.node

    def __exit__(self, *exc: object) -> None:
        OmegaConf.set_readonly(self.node, self.flag)
