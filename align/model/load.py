"""Load a model and its tokenizer: a Hub id, a local directory, a GGUF file (model/gguf.py), or the built-in tiny
model."""

from __future__ import annotations

import logging
import os
from typing import Any

from align.errors import EnvironmentProblem, ModelError

log = logging.getLogger(__name__)


def model_path(model: Any) -> str:
    """Where from_pretrained loads from: the configured path, a GGUF file's converted directory (converted on first
    use), or the tiny model's cache directory."""
    if getattr(model, "gguf_file", None) is not None:
        from align.model.gguf import converted_dir, gguf_path

        return str(converted_dir(gguf_path(model)))
    if model.name_or_path is not None:
        return os.path.expanduser(model.name_or_path)
    from omegaconf import OmegaConf

    from align.model.tiny import tiny_model_dir

    return str(tiny_model_dir(OmegaConf.to_container(model.build)))


def _explain_load_failure(what: str, path: str, error: Exception) -> ModelError:
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    where = (
        "HF_HUB_OFFLINE=1 is set, so only the local Hub cache was searched"
        if offline
        else "check the Hub id, your network and, for gated models, your HF token"
    )
    return ModelError(f"Could not load the {what} from {path!r}: {reason}. If it is a Hub id, {where}.")


def load_tokenizer(model: Any, convert: bool = True):
    """The model's tokenizer with a pad token and the chat template `model.chat_template` asks for.

    `convert=False` (the dry run): a GGUF model that is not converted yet gives the tokenizer in its file's metadata.
    """
    from transformers import AutoTokenizer

    from align.data import templates

    extra: dict[str, str] = {}
    # model.revision is a branch of the model's repository, not of another tokenizer's
    revision = "main" if model.tokenizer_name_or_path else model.revision
    if model.tokenizer_name_or_path:
        path = os.path.expanduser(model.tokenizer_name_or_path)
    elif getattr(model, "gguf_file", None) is not None and not convert:
        from align.model.gguf import unconverted_source

        path, extra = unconverted_source(model)
    else:
        path = model_path(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            path, revision=revision, trust_remote_code=model.trust_remote_code, **extra
        )
    except (OSError, ValueError) as error:
        raise _explain_load_failure("tokenizer", path, error) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    templates.apply(tokenizer, model.chat_template, path)
    return tokenizer


def resolve_attn_implementation(requested: str, on_cuda: bool) -> str:
    """`auto` picks flash_attention_2 when installed with CUDA, else sdpa."""
    import importlib.util

    has_flash = importlib.util.find_spec("flash_attn") is not None
    if requested == "auto":
        return "flash_attention_2" if (on_cuda and has_flash) else "sdpa"
    if requested == "flash_attention_2" and not (on_cuda and has_flash):
        raise EnvironmentProblem(
            "model.attn_implementation=flash_attention_2 needs a CUDA GPU and the flash-attn package "
            "(pip install flash-attn --no-build-isolation). Use model.attn_implementation=sdpa instead."
        )
    return requested


def resolve_dtype(requested: str, on_cuda: bool):
    import torch

    if requested == "auto":
        return torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, requested)


def load_model(model: Any, on_cuda: bool, model_class: str = "AutoModelForCausalLM", **extra: Any):
    import transformers

    path = model_path(model)
    auto_class = getattr(transformers, model_class)
    try:
        return auto_class.from_pretrained(
            path,
            revision=model.revision,
            trust_remote_code=model.trust_remote_code,
            dtype=resolve_dtype(model.dtype, on_cuda),
            attn_implementation=resolve_attn_implementation(model.attn_implementation, on_cuda),
            **extra,
        )
    except (OSError, ValueError) as error:
        raise _explain_load_failure("model", path, error) from None


def quantization_config():
    """4-bit NF4 with double quantisation and bf16 compute/storage (QLoRA; bf16 storage lets FSDP shard it)."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_quant_storage=torch.bfloat16,
    )
