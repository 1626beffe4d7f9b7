"""A model's transformers config (config.json alone, no weights) for the plan and the disk estimate: from a local
directory or the Hub (honouring HF_HUB_OFFLINE), for a LoRA adapter its base model's, and for a GGUF file its
converted directory's or, not converted yet, its metadata's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig


class ConfigUnavailable(Exception):
    """The model's config.json could not be read; the message says from where and why."""


def model_config(model: DictConfig) -> tuple[Any, str]:
    """The model's transformers config (local directory or Hub, honouring HF_HUB_OFFLINE) and where it came from
    ("config.json of PATH", ...).

    A LoRA adapter (adapter_config.json, no config.json) gives its base model's config.
    """
    from transformers import AutoConfig

    from align.model.load import model_path

    if model.gguf_file is not None:
        return _gguf_config(model)
    path = model_path(model)
    try:
        config = AutoConfig.from_pretrained(path, revision=model.revision, trust_remote_code=model.trust_remote_code)
        return config, f"config.json of {path}"
    except (OSError, ValueError) as error:
        base = _adapter_base(path, model.revision)
        if base is None:
            raise ConfigUnavailable(_fetch_failure(path, model.revision, error)) from None
    try:
        config = AutoConfig.from_pretrained(base, trust_remote_code=model.trust_remote_code)
    except (OSError, ValueError) as error:
        raise ConfigUnavailable(_fetch_failure(base, "main", error) + f" (the base model of adapter {path})") from None
    return config, f"config.json of {base}, base model of the LoRA adapter {path}"


def _gguf_config(model: DictConfig) -> tuple[Any, str]:
    """From the converted directory when it is cached, else from the GGUF file's metadata; never converting."""
    from transformers import AutoConfig

    from align.errors import AlignError
    from align.model.gguf import metadata_config, unconverted_source

    try:
        path, extra = unconverted_source(model)
        if not extra:
            return AutoConfig.from_pretrained(path), f"config.json of {path}, converted from {model.gguf_file}"
        gguf = Path(path) / extra["gguf_file"]
        return metadata_config(gguf), f"the metadata of the GGUF file {gguf}"
    except AlignError as error:
        raise ConfigUnavailable(str(error)) from None
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split())[:300].rstrip(".") or type(error).__name__
        raise ConfigUnavailable(f"could not read the metadata of model.gguf_file={model.gguf_file!r} in "
                                f"{model.name_or_path!r}: {reason}") from None


def _adapter_base(path: str, revision: str) -> str | None:
    from peft import PeftConfig

    try:
        return PeftConfig.from_pretrained(path, revision=revision).base_model_name_or_path
    except (OSError, ValueError):
        return None


def _fetch_failure(path: str, revision: str, error: Exception) -> str:
    reason = " ".join(str(error).split())[:300].rstrip(".") or type(error).__name__
    offline = " (HF_HUB_OFFLINE=1: only the local cache was searched)" if os.environ.get("HF_HUB_OFFLINE") else ""
    branch = "" if revision == "main" else f" --revision {revision}"
    return (
        f"could not fetch config.json of {path!r} (revision {revision}){offline}: {reason}. Parameters and memory "
        f"need only that file: `hf download {path} config.json{branch}`, or set model.name_or_path to a local "
        "directory holding it."
    )
