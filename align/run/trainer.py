"""The TRL side of a run: the method's TRL config from `method.*` (`trl_args`, no side effects), the trainer built
from the method table's row (`build_trainer`), and the trained model saved to model/ (`save_model`)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from align.errors import ConfigError, DataError
from align.methods import SEQUENCE_CLASSIFIER, Method, import_class
from align.outputs import swap_in

log = logging.getLogger(__name__)

# Keys of the method node that are align's own, not TRL's.
_ALIGN_METHOD_KEYS = {"name", "trainer"}


def trl_args(cfg: DictConfig, method: Method, run_dir: Path, on_cuda: bool) -> Any:
    """The TRL config for this run: every method.* value, with run-dir, tracking and hardware settings filled in."""
    from align.config.schema import RENAMED_FIELDS, REWARD_KEYS
    from align.hardware.settings import trainer_settings, use_bf16
    from align.tracking import trainer_settings as tracking_settings

    values = OmegaConf.to_container(cfg.method, resolve=True)
    own = {*_ALIGN_METHOD_KEYS, *(REWARD_KEYS if method.rewarded else ())}  # the trainer takes reward functions
    trl_fields = {k: v for k, v in values.items() if k not in own}
    for old in RENAMED_FIELDS:  # validation moved their values to the new names; the old ones stay unset
        if trl_fields.get(old) is None:
            trl_fields.pop(old, None)
    trl_fields["output_dir"] = str(run_dir / "checkpoints")
    trl_fields.update(tracking_settings(cfg))
    for key, value in trainer_settings(cfg.hardware, on_cuda).items():
        if trl_fields.get(key) is None:  # an explicit method.deepspeed / method.fsdp_config wins
            trl_fields[key] = value
    trl_fields["use_cpu"] = trl_fields.get("use_cpu") or not on_cuda
    if trl_fields.get("bf16") is None and not trl_fields.get("fp16"):
        trl_fields["bf16"] = use_bf16(cfg.hardware, on_cuda)
    if trl_fields["use_cpu"] and trl_fields.get("optim") == "adamw_torch_fused":
        trl_fields["optim"] = "adamw_torch"  # the fused kernel is CUDA-only
    if _trl_loads_reference(cfg, method) and cfg.model.revision != "main" and not trl_fields.get("model_init_kwargs"):
        # TRL loads the reference from the policy's Hub id with model_init_kwargs alone, so the branch goes there (its
        # warning that the kwargs are ignored speaks of the policy, which align loads itself)
        trl_fields["model_init_kwargs"] = {"revision": cfg.model.revision}
    config_class = import_class(method.config)
    try:
        return config_class(**trl_fields)
    except ValueError as error:
        raise _rejected(config_class, error) from None


def _trl_loads_reference(cfg: DictConfig, method: Method) -> bool:
    """Whether TRL loads a reference model itself: LoRA disables its adapters instead, and precomputed reference
    log-probs (the reference cache) need none, except under FSDP, which loads one for the precomputation."""
    from align.run.ref_cache import ref_cache_for

    if not method.reference or cfg.peft.method != "none":
        return False
    return ref_cache_for(cfg, method) is None or cfg.hardware.distributed == "fsdp"


def peft_config(peft: DictConfig, task_type: str) -> Any:
    """LoRA settings for peft, or None to train every weight (QLoRA's 4-bit base comes from the model loader)."""
    if peft.method == "none":
        return None
    from peft import LoraConfig

    target = peft.target_modules
    return LoraConfig(
        r=peft.r,
        lora_alpha=peft.lora_alpha,
        lora_dropout=peft.lora_dropout,
        target_modules=list(target) if OmegaConf.is_list(target) else target,
        bias=peft.bias,
        task_type=task_type,
    )


def load_policy(cfg: DictConfig, method: Method, on_cuda: bool) -> Any:
    """The model the method trains, as its row says (a reward model gets one output), 4-bit for QLoRA."""
    from align.model.load import load_model, quantization_config

    extra: dict[str, Any] = {"num_labels": 1} if method.model_class == SEQUENCE_CLASSIFIER else {}
    if cfg.peft.method == "qlora":
        extra["quantization_config"] = quantization_config()
    return load_model(cfg.model, on_cuda, method.model_class, **extra)


def build_trainer(prepared: Any, args: Any, on_cuda: bool) -> Any:
    """The method's TRL trainer on the prepared splits, with the model and its tokenizer (`processing_class`);
    TRL's own checks (ValueError) become one-paragraph ConfigErrors, and a train split that tokenization emptied
    a DataError stating the method's length rule."""
    from align.hardware.devices import inside_distributed_launch
    from align.model.load import load_tokenizer
    from align.run.ref_cache import with_ref_cache

    cfg, method, data = prepared.cfg, prepared.method, prepared.data.splits
    trainer_class, extra = with_ref_cache(prepared.ref_cache, import_class(method.trainer), method.ref_settings)
    if method.rewarded:
        from align.methods import rewards

        if cfg.method.eval_strategy == "no":  # evaluating samples every test prompt: only when asked for
            data = {"train": data["train"]}
        data = {name: rewards.with_references(split, cfg.method, name) for name, split in data.items()}
        extra["reward_funcs"] = rewards.reward_funcs(cfg.method)
    if cfg.hardware.distributed == "fsdp" and not on_cuda and inside_distributed_launch():
        from align.hardware.settings import enable_fsdp_on_cpu

        enable_fsdp_on_cpu(args)
    model = load_policy(cfg, method, on_cuda)  # first: a model that cannot load says more than its tokenizer
    try:
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=data["train"],
            eval_dataset=data.get("test"),
            processing_class=load_tokenizer(cfg.model),
            peft_config=peft_config(cfg.peft, method.task_type),
            **extra,
        )
    except ValueError as error:
        raise _rejected(trainer_class, error) from None
    if hasattr(trainer.train_dataset, "__len__") and len(trainer.train_dataset) == 0:
        rule = (f"TRL drops {method.drops_long_rows}" if method.drops_long_rows
                else f"TRL's {trainer_class.__name__} left none")
        raise DataError(
            f"None of the {len(data['train'])} train rows is left after tokenization: {rule} "
            f"(method.max_length={args.max_length}). Raise method.max_length or use shorter rows (dry_run=true "
            "prints token lengths)."
        )
    return trainer


def save_model(trainer: Any, cfg: DictConfig, tokenizer: Any, run_dir: Path) -> None:
    """model/ with the trained weights (or LoRA adapter, or merged weights with peft.merge) and the tokenizer,
    swapped in whole. Every process takes part: ZeRO-3 and FSDP gather the sharded weights collectively."""
    from align.model.load import model_path
    from align.model.tiny import pass_on_lineage

    staging = run_dir / ".model.staging"
    main = trainer.is_world_process_zero()
    if main:
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    if cfg.peft.method != "none" and cfg.peft.merge:
        merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        if main:
            merged.save_pretrained(staging)
    else:
        trainer.save_model(str(staging))  # collective under ZeRO-3/FSDP; writes on the main process
    trainer.accelerator.wait_for_everyone()
    if main:
        tokenizer.save_pretrained(staging)
        pass_on_lineage(cfg.model.name_or_path and model_path(cfg.model), staging)
        swap_in(staging, run_dir / "model")


def _rejected(by: type, error: Exception) -> ConfigError:
    reason = " ".join(str(error).split())
    return ConfigError(f"TRL's {by.__name__} rejected this run's method settings: {reason}")
