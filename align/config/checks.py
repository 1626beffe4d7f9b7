"""The checks of each group's values that need no data, model or device: rules for method fields, choices,
model paths, hardware/PEFT combinations and tracking names. Each raises one ConfigError naming its key."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from align.config.messages import unknown_key_message
from align.config.schema import RENAMED_FIELDS
from align.errors import ConfigError, EnvironmentProblem, did_you_mean, invalid

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _non_negative(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


# method field -> (check, what is expected). Checked only where the method's schema has the field; a renamed
# field's old name (max_seq_length) is checked by its new name's rule unless it has its own.
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
    "generation_batch_size": (lambda v: v is None or _positive(v), "a positive integer, or null"),
    "num_prompts": (lambda v: v is None or v > 0, "a positive number of prompts, or null for all"),
}

# Rules that differ for some TRL config classes: the online methods take beta 0 as "no KL penalty, no reference
# model", and online DPO a beta per epoch.
_NO_KL = (_non_negative, "a number >= 0 (0: no KL penalty and no reference model)")
RULES_BY_CLASS: dict[str, dict[str, tuple[Any, str]]] = {
    "trl.GRPOConfig": {"beta": _NO_KL},
    "trl.RLOOConfig": {"beta": _NO_KL},
    "trl.experimental.online_dpo.OnlineDPOConfig": {
        "beta": (lambda v: all(_positive(b) for b in (v if isinstance(v, (list, ListConfig)) else [v])),
                 "a positive number, or a list of them (one per epoch, the last one kept)"),
    },
}

CHOICES = {
    ("model", "dtype"): ["auto", "float32", "bfloat16", "float16"],
    ("model", "attn_implementation"): ["auto", "eager", "sdpa", "flash_attention_2", "flash_attention_3"],
    ("hardware", "device"): ["auto", "cpu", "cuda"],
    ("hardware", "mixed_precision"): ["auto", "no", "bf16", "fp16"],
    ("hardware", "distributed"): ["no", "ddp", "deepspeed", "fsdp"],
    ("peft", "method"): ["none", "lora", "qlora"],
}
# TRL fields whose allowed values TRL states only in prose (so the manifest has no choices for them): checked here
# so that a typo fails at validation, not at the first loss step. tests/config/test_checks.py has TRL accept each.
PROSE_CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "trl.GRPOConfig": {
        "loss_type": ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"),
        "scale_rewards": ("group", "batch", "none"),
        "importance_sampling_level": ("token", "sequence"),
        "multi_objective_aggregation": ("sum_then_normalize", "normalize_then_sum"),
        "vllm_mode": ("server", "colocate"),
    },
    "trl.RLOOConfig": {"vllm_mode": ("server", "colocate")},
    "trl.experimental.online_dpo.OnlineDPOConfig": {"vllm_mode": ("server", "colocate")},
}
TRACKING_BACKENDS = ("wandb", "tensorboard")
# W&B rejects these characters in project and entity names, and longer groups and tags.
_WANDB_NAME_FORBIDDEN = set("/\\#?%:")


def reject_unknown_keys(node: DictConfig, prefix: str = "") -> None:
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
            reject_unknown_keys(child, f"{prefix}{key}.")


def check_choices(cfg: DictConfig) -> None:
    for (group, key), allowed in CHOICES.items():
        value = cfg[group].get(key)
        if value not in allowed:
            raise invalid(f"{group}.{key}", value, "one of " + ", ".join(allowed))


def check_rules(method: DictConfig, config_class: str | None) -> None:
    """Every method field that has a rule, old handbook names included (checked before they are renamed)."""
    rules = {**METHOD_RULES, **RULES_BY_CLASS.get(config_class or "", {})}
    for key in method:
        rule = rules.get(key) or rules.get(RENAMED_FIELDS.get(key, ""))
        if rule is None or (key in RENAMED_FIELDS and method[key] is None):
            continue
        check, expected = rule
        try:
            ok = check(method[key])
        except TypeError:
            ok = False
        if not ok:
            raise invalid(f"method.{key}", method[key], expected)


def check_trl_choices(method: DictConfig, fields: dict[str, dict[str, Any]]) -> None:
    """Values of TRL fields with a fixed set of choices (loss_type, lr_scheduler_type, ...)."""
    for key, spec in fields.items():
        value = method.get(key)
        if not spec["choices"] or value is None:
            continue
        for item in list(value) if isinstance(value, (list, ListConfig)) else [value]:
            if item not in spec["choices"]:
                hint = did_you_mean(str(item), spec["choices"])
                raise invalid(f"method.{key}", item, "one of " + ", ".join(spec["choices"]), hint)


def check_generation_batch(method: DictConfig, world_size: int) -> None:
    """GRPO and RLOO score each prompt's `num_generations` completions against each other: a generation batch
    (completions over all processes) must hold whole groups."""
    if "num_generations" not in method or "steps_per_generation" not in method:
        return
    generations = method.num_generations
    if generations is None or generations < 2:
        raise invalid("method.num_generations", generations, "at least 2 completions per prompt (their rewards are "
                      "compared with each other)")
    batch = method.per_device_train_batch_size * world_size
    per_generation = method.get("generation_batch_size") or batch * (
        method.get("steps_per_generation") or method.gradient_accumulation_steps)
    if per_generation % generations:
        raise invalid(
            "method.num_generations", generations,
            f"a divisor of the {per_generation} completions generated at a time (method.per_device_train_batch_size "
            f"{method.per_device_train_batch_size} x {world_size} process(es) x method.gradient_accumulation_steps "
            f"{method.gradient_accumulation_steps}, or method.generation_batch_size)",
            f"For example method.num_generations={_largest_divisor(per_generation, generations)}.",
        )


def _largest_divisor(n: int, below: int) -> int:
    return next(d for d in range(min(n, below), 1, -1) if n % d == 0) if n > 1 else 2


def check_method_keys(method: DictConfig) -> None:
    """Method keys whose job align does itself, and combinations TRL would reject later."""
    if method.get("reward_model") is not None:
        check_model_path("method.reward_model", method.reward_model)
    if method.get("output_dir") is not None:
        raise invalid("method.output_dir", method.output_dir, "null: align writes checkpoints to <run dir>/checkpoints",
                      "Choose the run directory with hydra.run.dir=DIR instead.")
    if method.get("resume_from_checkpoint") is not None:
        raise invalid(
            "method.resume_from_checkpoint", method.resume_from_checkpoint,
            "null: align resumes through the top-level key resume",
            "Use resume=<checkpoint dir>, or resume=auto (the default) for the run directory's latest checkpoint.",
        )
    weights, losses = method.get("loss_weights"), method.get("loss_type")
    if weights is not None and losses is not None:
        n_losses = len(losses) if isinstance(losses, (list, ListConfig)) else 1
        if len(weights) != n_losses:
            raise invalid("method.loss_weights", list(weights), f"one weight per loss in method.loss_type ({n_losses})")


def check_model(model: DictConfig) -> None:
    if model.name_or_path is None and model.build is None:
        raise invalid("model.name_or_path", None, "a Hub id (org/name) or a local model directory")
    if model.gguf_file is not None:
        check_gguf_file(model.name_or_path, model.gguf_file)
    elif model.name_or_path is not None:
        check_model_path("model.name_or_path", model.name_or_path)
    if model.tokenizer_name_or_path is not None:
        check_model_path("model.tokenizer_name_or_path", model.tokenizer_name_or_path, tokenizer=True)


def check_model_path(key: str, value: str, tokenizer: bool = False) -> None:
    """A local model (or tokenizer) directory, or something that can be a Hub id."""
    expanded = Path(value).expanduser()
    if expanded.is_dir():
        marks = ("tokenizer_config.json", "tokenizer.json", "config.json") if tokenizer else (
            "config.json", "adapter_config.json")
        if not any((expanded / name).is_file() for name in marks):
            what = "a tokenizer directory with a tokenizer_config.json" if tokenizer else (
                "a model directory with a config.json (e.g. <run dir>/model)")
            found = _gguf_files(expanded)
            hint = (f"It holds the GGUF file(s) {', '.join(found)}: set model.gguf_file={found[0]} to load one."
                    if found and key == "model.name_or_path" else "")
            raise invalid(key, value, what, hint)
        return
    if expanded.exists():
        hint = (f"For a GGUF file: model.name_or_path={expanded.parent} model.gguf_file={expanded.name}."
                if expanded.suffix.lower() == ".gguf" and key == "model.name_or_path" else "")
        raise invalid(key, value, "a model directory, not a file", hint)
    _check_hub_id(key, value)


def _check_hub_id(key: str, value: str) -> None:
    looks_like_path = value.startswith(("/", ".", "~")) or value.count("/") > 1 or "\\" in value
    if looks_like_path or not _HUB_ID.match(value) or "--" in value or ".." in value:
        expected = "an existing local model directory or a Hub id such as 'HuggingFaceH4/zephyr-7b-beta'"
        raise invalid(key, value, expected, "No such directory exists.")


def check_gguf_file(name_or_path: str | None, gguf_file: str) -> None:
    """`model.gguf_file`: a .gguf file's name inside the local directory (or Hub repo) `model.name_or_path`; that
    directory needs no config.json."""
    expected = "the name of a .gguf file inside model.name_or_path, e.g. SmolLM2-135M-Instruct.Q4_1.gguf"
    if name_or_path is None:
        raise invalid("model.gguf_file", gguf_file, expected,
                      "model.name_or_path is null (the built-in tiny model): set it to the directory or Hub repo "
                      "holding the GGUF file.")
    given = Path(gguf_file)
    if given.is_absolute() or ".." in given.parts:
        raise invalid("model.gguf_file", gguf_file, expected,
                      f"For this file: model.name_or_path={given.parent} model.gguf_file={given.name}.")
    local = Path(name_or_path).expanduser()
    if not local.is_dir():
        check_model_path("model.name_or_path", name_or_path)  # a file, a missing directory, or no Hub id
        if not gguf_file.lower().endswith(".gguf"):
            raise invalid("model.gguf_file", gguf_file, expected)
        return  # a Hub repo: its files are only known once fetched
    found = _gguf_files(local)
    present = (f"The .gguf files in {name_or_path}: {', '.join(found)}." if found
               else f"{name_or_path} holds no .gguf file.")
    if not gguf_file.lower().endswith(".gguf") or not (local / gguf_file).is_file():
        raise invalid("model.gguf_file", gguf_file, expected, present)


def _gguf_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*") if p.suffix.lower() == ".gguf" and p.is_file())


def check_hardware(hw: DictConfig, peft: DictConfig) -> None:
    """Hardware and PEFT values and combinations that cannot work on any machine."""
    for key in ("num_processes", "num_machines"):
        if hw[key] is not None and hw[key] < 1:
            raise invalid(f"hardware.{key}", hw[key], "a positive number, or null")
    if hw.zero_stage not in (0, 1, 2, 3):
        raise invalid("hardware.zero_stage", hw.zero_stage, "a DeepSpeed ZeRO stage: 0, 1, 2 or 3")
    if hw.machine_rank is not None and not 0 <= hw.machine_rank < (hw.num_machines or 1):
        raise invalid("hardware.machine_rank", hw.machine_rank, "a rank from 0 to hardware.num_machines - 1")
    if hw.requires_peft is not None and peft.method != hw.requires_peft:
        raise ConfigError(f"hardware={hw.name} is made for peft.method={hw.requires_peft} (hardware.requires_peft), "
                          f"but peft.method is {peft.method}: choose peft={hw.requires_peft} with it, or another "
                          "hardware option.")
    if peft.method == "qlora" and hw.distributed == "deepspeed" and hw.zero_stage == 3:
        raise ConfigError(
            "peft=qlora with hardware=zero3 is not supported: 4-bit weights cannot be sharded by ZeRO-3 "
            "here. Use hardware=fsdp_qlora for several GPUs, or hardware=auto on one GPU."
        )
    if not 0 <= peft.lora_dropout < 1:
        raise invalid("peft.lora_dropout", peft.lora_dropout, "a probability in [0, 1)")
    for key in ("r", "lora_alpha"):
        if peft[key] < 1:
            raise invalid(f"peft.{key}", peft[key], "a positive integer")
    if peft.method == "qlora" and peft.merge:
        raise invalid("peft.merge", True, "false with peft=qlora: 4-bit weights cannot be merged into the model")


def check_tracking(tracking: DictConfig) -> None:
    """Backends that exist and are installed; project, entity, group and tags that W&B accepts."""
    import importlib.util

    backends = list(tracking.backends)
    for backend in backends:
        if backend not in TRACKING_BACKENDS:
            raise invalid("tracking.backends", backend, "backends among " + ", ".join(TRACKING_BACKENDS),
                          did_you_mean(str(backend), list(TRACKING_BACKENDS)))
        if importlib.util.find_spec(backend) is None:
            raise EnvironmentProblem(
                f"tracking.backends lists {backend}, which is not installed: pip install 'align[{backend}]' "
                f"(or pip install {backend}), or choose tracking=none."
            )
    if len(set(backends)) != len(backends):
        raise invalid("tracking.backends", backends, "each backend at most once")
    for key in ("project", "entity"):
        value = tracking[key]
        if value is not None and (not str(value).strip() or _WANDB_NAME_FORBIDDEN & set(str(value))):
            raise invalid(f"tracking.{key}", value, "a non-empty W&B name without / \\ # ? % :")
    if tracking.group is not None and not 0 < len(tracking.group) <= 128:
        raise invalid("tracking.group", tracking.group, "a W&B group name of 1 to 128 characters, or null")
    for tag in tracking.tags:
        if not 0 < len(str(tag)) <= 64:
            raise invalid("tracking.tags", tag, "tags of 1 to 64 characters (W&B's limit)")


def check_cache(cfg: DictConfig) -> None:
    if cfg.cache.ref_logps and cfg.method.get("sync_ref_model"):
        raise ConfigError(
            "cache.ref_logps=true stores the reference model's log-probs once, but method.sync_ref_model=true "
            "updates the reference during training. Set cache.ref_logps=false or method.sync_ref_model=false."
        )


# The judge's numeric keys: (check, what is expected).
JUDGE_RULES: dict[str, tuple[Any, str]] = {
    "batch_size": (_positive, "a positive number of conversations per batch"),
    "concurrency": (_positive, "a positive number of requests at a time"),
    "max_retries": (_non_negative, "a number of retries >= 0"),
    "timeout_s": (_positive, "a positive number of seconds"),
    "max_tokens": (_positive, "a positive number of tokens"),
    "temperature": (_non_negative, "a sampling temperature >= 0"),
}
_EVAL_RULES: dict[str, tuple[Any, str]] = {
    "max_new_tokens": (_positive, "a positive number of tokens"),
    "batch_size": (_positive, "a positive number of conversations per batch"),
    "limit": (lambda v: v is None or _positive(v), "a positive number of questions, or null for all"),
}


def check_eval(cfg: DictConfig, row: Any) -> None:
    """The selected evaluations' values and files, a method that runs them, and a judge for those that need one
    (eval/run.py). `row` is the method's row of the method table."""
    from align.eval.prompts import check_source
    from align.eval.run import judged, question_sources, selected
    from align.methods import SEQUENCE_CLASSIFIER

    names, method_name = selected(cfg), row.name
    if method_name == "evaluate" and not names and not _verifiable(cfg.data):
        raise ConfigError("method=evaluate without eval=... measures exact match on the data's verifiable answers, "
                          f"and data={cfg.data.name} has none: choose evaluations, e.g. eval=mt_bench "
                          "judge=reward_model judge.model=<dir>, or \"eval=[mt_bench,win_rate]\" (options: mt_bench, "
                          "win_rate, lm_eval, exact_match).")
    if names and not row.trains and method_name != "evaluate":
        raise ConfigError(f"eval={names[0]} evaluates a trained model, but method={cfg.method.name} trains none: "
                          f"evaluate its outputs' model with method=evaluate model.name_or_path=<dir>.")
    if names and row.model_class == SEQUENCE_CLASSIFIER:
        raise ConfigError(f"eval={names[0]} asks the model for answers, but method={cfg.method.name} trains a "
                          "reward model, which scores rather than answers: use it as a judge instead "
                          "(judge=reward_model judge.model=<its run dir>/model).")
    for name in names:
        settings = cfg.eval[name]
        for key, (check, expected) in _EVAL_RULES.items():
            if key in settings and name != "lm_eval" and not check(settings[key]):
                raise invalid(f"eval.{name}.{key}", settings[key], expected)
    for source, key in question_sources(cfg).values():
        check_source(key, source)
    if cfg.eval.win_rate is not None:
        baseline = cfg.eval.win_rate.baseline
        if baseline is not None:
            check_model_path("eval.win_rate.baseline", baseline)
        elif method_name == "evaluate":
            raise invalid("eval.win_rate.baseline", None, "the model to compare with (a directory or Hub id): "
                          "method=evaluate trains nothing, so there is no starting model to be the baseline",
                          "For example eval.win_rate.baseline=<run dir>/model.")
    if cfg.eval.lm_eval is not None:
        _check_lm_eval(cfg.eval.lm_eval)
    needs = judged(cfg)
    if needs and cfg.judge is None:
        chosen = needs[0] if len(needs) == 1 else f"[{','.join(needs)}]"
        raise ConfigError(
            f"eval={chosen} needs a judge: judge=reward_model judge.model=<reward model directory or Hub id> (e.g. a "
            "method=reward run's model/), or judge=openai judge.model=<model> judge.base_url=<endpoint>."
        )
    if cfg.judge is not None:
        check_judge(cfg.judge)


def _verifiable(data: DictConfig) -> bool:
    from align.data import source_type

    return source_type(data) == "arithmetic" and data.num_exact_match > 0


def check_judge(judge: DictConfig) -> None:
    for key, (check, expected) in JUDGE_RULES.items():
        if key in judge and not check(judge[key]):
            raise invalid(f"judge.{key}", judge[key], expected)
    if judge.model is None:
        expected = ("a sequence-classification reward model: a directory (e.g. a method=reward run's model/) or a "
                    "Hub id" if "base_url" not in judge else "the name of the endpoint's model, e.g. gpt-4o")
        raise invalid("judge.model", None, expected)
    if "base_url" not in judge:
        check_model_path("judge.model", judge.model)
    elif not str(judge.base_url).startswith(("http://", "https://")):
        raise invalid("judge.base_url", judge.base_url, "an http(s) URL of an OpenAI-compatible API, e.g. "
                      "https://api.openai.com/v1 or http://localhost:8000/v1")


def _check_lm_eval(settings: DictConfig) -> None:
    from align.eval.lm_eval import check_tasks

    if not settings.tasks:
        raise invalid("eval.lm_eval.tasks", [], "at least one lm-evaluation-harness task, e.g. "
                      "eval.lm_eval.tasks=[arc_easy]")
    if settings.include_path is not None and not Path(settings.include_path).expanduser().is_dir():
        raise invalid("eval.lm_eval.include_path", settings.include_path, "an existing folder of task YAMLs")
    if settings.limit is not None and not _positive(settings.limit):
        raise invalid("eval.lm_eval.limit", settings.limit, "a number of examples per task, a fraction below 1, or "
                      "null")
    if settings.num_fewshot is not None and not _non_negative(settings.num_fewshot):
        raise invalid("eval.lm_eval.num_fewshot", settings.num_fewshot, "a number of examples >= 0, or null")
    batch = settings.batch_size
    if batch != "auto" and not (isinstance(batch, int) and not isinstance(batch, bool) and batch > 0):
        raise invalid("eval.lm_eval.batch_size", batch, "a positive integer or auto")
    check_tasks(settings)
