"""Pushing to the Hugging Face Hub: `method.push_to_hub` and `method.hub_model_id` pass through to the trainer,
and a missing token or repository name is a ConfigError before anything loads, not after hours of training."""

from __future__ import annotations

import os

from omegaconf import DictConfig, OmegaConf

from align.errors import ConfigError


def token_source(method: DictConfig) -> str | None:
    """Where the Hub token comes from (method.hub_token, HF_TOKEN, the stored login), or None without one."""
    # `${oc.env:HF_TOKEN}` with HF_TOKEN unset counts as no token, not as an error
    if OmegaConf.select(method, "hub_token", throw_on_resolution_failure=False):
        return "method.hub_token"
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if os.environ.get(name, "").strip():
            return name
    from huggingface_hub import get_token

    return "the stored Hugging Face login" if get_token() else None


def token_to_environment(method: DictConfig) -> None:
    """`method.hub_token` moves to HF_TOKEN in this process's environment, where huggingface_hub finds it for
    push_to_hub; the trainer gets none (it pickles its arguments into model/training_args.bin)."""
    token = method.get("hub_token")
    if token:
        os.environ["HF_TOKEN"] = str(token)


def check_push_to_hub(cfg: DictConfig) -> None:
    """With method.push_to_hub=true: a repository name and a token, or one paragraph saying what is missing."""
    method = cfg.method
    if not method.get("push_to_hub"):
        return
    if not method.get("hub_model_id"):
        raise ConfigError(
            "method.push_to_hub=true needs method.hub_model_id, the repository to push to (e.g. "
            "hub_model_id=zephyr-7b-dpo-full, or org/name); without it the trainer would name the repository "
            "after the checkpoint folder. Set it, or method.push_to_hub=false to keep the model local."
        )
    if token_source(method) is None:
        raise ConfigError(
            f"method.push_to_hub=true (repository {method.hub_model_id!r}) needs a Hugging Face token with write "
            "access, and none was found: not in method.hub_token, HF_TOKEN, or a stored login. Run `hf auth "
            "login` or set HF_TOKEN, or set method.push_to_hub=false to keep the model in the run directory "
            "only. Checked before training so that a finished run does not fail at the upload."
        )
