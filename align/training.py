"""What every method module shares: model, tokenizer and data loading, TRL arguments, train-evaluate-save.

A method module reads top to bottom as: data -> trainer -> `run.finish(trainer)`.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from align import hardware, tracking
from align.config import RENAMED_FIELDS
from align.errors import ConfigError, DataError
from align.outputs import swap_in, write_json

log = logging.getLogger(__name__)

# Keys of the method node that are align's own, not TRL's.
_ALIGN_METHOD_KEYS = {"name", "trainer", *RENAMED_FIELDS}
_DEPRECATED_ALIASES = (
    ("gradient_checkpointing", "activation_checkpointing"),
    ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs"),
)


@dataclass
class Run:
    """One training run: the validated config and the run directory it writes to."""

    cfg: DictConfig
    run_dir: Path
    started: float = field(default_factory=time.time)

    @cached_property
    def on_cuda(self) -> bool:
        import torch

        return self.cfg.hardware.device != "cpu" and torch.cuda.is_available()

    @cached_property
    def tokenizer(self):
        from align.models import load_tokenizer

        return load_tokenizer(self.cfg.model)

    def model(self, model_class: str = "AutoModelForCausalLM", **extra: Any):
        from align.models import load_model, quantization_config

        if model_class == "AutoModelForSequenceClassification":
            extra.setdefault("num_labels", 1)  # a reward model: one scalar score per sequence

        if self.cfg.peft.method == "qlora":
            extra.setdefault("quantization_config", quantization_config())
        return load_model(self.cfg.model, self.on_cuda, model_class, **extra)

    def dataset(self, kind: str):
        from align.data import load_for_method

        return load_for_method(self.cfg.data, kind, self.cfg.method.name)

    def trl_args(self, config_class: type, **overrides: Any):
        """The TRL config for this run: every method.* value, with run-dir and hardware settings filled in."""
        values = OmegaConf.to_container(self.cfg.method, resolve=True)
        values = {k: v for k, v in values.items() if k not in _ALIGN_METHOD_KEYS}
        for old, new in _DEPRECATED_ALIASES:
            # transformers 5 renamed these; move the handbook's name over so no FutureWarning fires.
            if old in values and new in values:
                values[new] = values[new] if values[new] is not None else values[old]
                values[old] = None
        values["output_dir"] = str(self.run_dir / "checkpoints")
        values.update(tracking.trainer_settings(self.cfg, self.run_dir))
        for key, value in hardware.trainer_settings(self.cfg.hardware, self.on_cuda).items():
            if values.get(key) is None:  # an explicit method.deepspeed / method.fsdp_config wins
                values[key] = value
        values["use_cpu"] = values.get("use_cpu") or not self.on_cuda
        if values.get("bf16") is None and not values.get("fp16"):
            values["bf16"] = self._use_bf16()
        if values["use_cpu"] and values.get("optim") == "adamw_torch_fused":
            values["optim"] = "adamw_torch"  # the fused kernel is CUDA-only
        values.update(overrides)
        return config_class(**values)

    def _use_bf16(self) -> bool:
        precision = self.cfg.hardware.mixed_precision
        if precision == "auto":
            import torch

            return self.on_cuda and torch.cuda.is_bf16_supported()
        return precision == "bf16"

    def peft_config(self, task_type: str = "CAUSAL_LM"):
        peft = self.cfg.peft
        if peft.method == "none":
            return None
        # lora and qlora both train LoRA adapters; qlora's 4-bit base comes from self.model().
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

    def trainer(self, trainer_class: type, config_class: type, data_kind: str, model: Any = None,
                model_class: str = "AutoModelForCausalLM", **extra: Any):
        """The usual TRL trainer: `model_class` model, TRL args, train/test splits in `data_kind`, tokenizer, LoRA.

        Data and TRL arguments come first, so wrong-kind data or settings TRL rejects stop the run before
        any model loads; TRL's own checks (ValueError) become one-paragraph ConfigErrors.
        """
        data = self.dataset(data_kind)
        task_type = "SEQ_CLS" if model_class == "AutoModelForSequenceClassification" else "CAUSAL_LM"
        try:
            args = self.trl_args(config_class)
        except ValueError as error:
            reason = _one_line(error)
            raise ConfigError(f"TRL's {config_class.__name__} rejected this run's method settings: {reason}") from None
        if self.cfg.hardware.distributed == "fsdp" and not self.on_cuda and hardware.inside_distributed_launch():
            hardware.enable_fsdp_on_cpu(args)
        try:
            trainer = trainer_class(
                model=model if model is not None else self.model(model_class),
                args=args,
                train_dataset=data["train"],
                eval_dataset=data.get("test"),
                processing_class=self.tokenizer,
                peft_config=self.peft_config(task_type),
                **extra,
            )
        except ValueError as error:
            reason = _one_line(error)
            raise ConfigError(f"TRL's {trainer_class.__name__} rejected this run's method settings: {reason}") from None
        if hasattr(trainer.train_dataset, "__len__") and len(trainer.train_dataset) == 0:
            raise DataError(
                f"None of the {len(data['train'])} train rows is left after tokenization: TRL drops rows whose prompt "
                f"alone fills method.max_length={args.max_length}. Raise method.max_length or use shorter rows "
                "(dry_run=true prints token lengths)."
            )
        return trainer

    def finish(self, trainer: Any) -> dict[str, Any]:
        """Train, evaluate, score exact match, save model/ atomically; return the run's metrics.

        Every process takes part in evaluation, generation and saving (ZeRO-3 and FSDP gather the
        sharded weights collectively); only the main process writes files. Training continues from a
        checkpoint as `resume` says and stops cleanly on SIGTERM/SIGINT (align/resume.py).
        """
        from align import resume

        result = resume.train(trainer, self.cfg, self.run_dir)
        metrics: dict[str, Any] = {"train_loss": result.training_loss, "train_steps": result.global_step}
        if trainer.eval_dataset is not None:
            metrics.update(trainer.evaluate())
        metrics.update(self._exact_match(trainer.model))
        self._save_model(trainer)
        if trainer.is_world_process_zero():
            write_json(self.run_dir / "log_history.json", trainer.state.log_history)
        metrics["world_size"] = trainer.args.world_size
        return metrics

    def _save_model(self, trainer: Any) -> None:
        staging = self.run_dir / ".model.staging"
        main = trainer.is_world_process_zero()
        if main:
            shutil.rmtree(staging, ignore_errors=True)
        trainer.accelerator.wait_for_everyone()
        model = trainer.model
        if self.cfg.peft.method != "none" and self.cfg.peft.merge:
            model = trainer.accelerator.unwrap_model(model).merge_and_unload()
            if main:
                model.save_pretrained(staging)
        else:
            trainer.save_model(str(staging))  # collective under ZeRO-3/FSDP; writes on the main process
        trainer.accelerator.wait_for_everyone()
        if main:
            self.tokenizer.save_pretrained(staging)
            swap_in(staging, self.run_dir / "model")

    def _exact_match(self, model: Any) -> dict[str, float]:
        from align.data import exact_match_set
        from align.evaluation import exact_match

        pairs = exact_match_set(self.cfg.data)
        if not pairs or not model.can_generate():  # a reward model scores, it does not answer
            return {}
        return {"eval_exact_match": exact_match(model, self.tokenizer, pairs)}



def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
