"""Keep tokens and API keys out of everything a run writes: saved configs, run_info.json, W&B config.

A secret is the value of an environment variable named like `*_TOKEN`, `*_KEY`, `*_SECRET` or
`*_PASSWORD` (HF_TOKEN, WANDB_API_KEY, ...) or named by the config as holding a key (`judge.api_key_env`,
registered with `treat_as_secret`), or the value of a config key such as `method.hub_token`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

REDACTED = "<redacted>"

_SECRET_ENV_NAME = re.compile(r"(?:^|_)(?:TOKEN|KEY|APIKEY|SECRET|PASSWORD|PASSWD)$", re.IGNORECASE)
# Shorter values ("1", "true") are settings, not credentials; replacing them would mangle every file.
_MIN_SECRET_LENGTH = 8
# Config keys that hold a credential (the last dotted part of the key).
_SECRET_KEY_NAME = re.compile(
    r"(?:^|_)(?:token|api_?key|secret|secret_key|private_key|password|passwd)$", re.IGNORECASE
)
# Tokenizer settings named *_token that are not credentials (TRL's SFTConfig.eos_token, pad_token).
_TOKENIZER_TOKENS = {"bos_token", "eos_token", "pad_token", "unk_token", "sep_token", "cls_token", "mask_token"}
# `key=value` in override lists, argv and Hydra's override_dirname.
_ASSIGNMENT = re.compile(r"(?P<key>[+~]*[A-Za-z_][\w.]*)=(?P<value>[^,\s]+)")


def is_secret_key(key: str) -> bool:
    """True for a config key (dotted or not) whose value is a credential, e.g. method.hub_token."""
    leaf = str(key).lstrip("+~").rsplit(".", 1)[-1].lower()
    return bool(_SECRET_KEY_NAME.search(leaf)) and leaf not in _TOKENIZER_TOKENS


# Environment variables that the config names as holding a credential, whatever their names look like.
_NAMED_SECRET_ENVS: set[str] = set()


def treat_as_secret(env_name: str) -> None:
    """Scrub the value of the environment variable `env_name` from everything written, e.g. judge.api_key_env's."""
    _NAMED_SECRET_ENVS.add(env_name)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the secret-looking environment variables, longest first (so no secret is half-replaced)."""
    environ = os.environ if environ is None else environ
    found = {v for k, v in environ.items() if (_SECRET_ENV_NAME.search(k) or k in _NAMED_SECRET_ENVS)
             and len(v.strip()) >= _MIN_SECRET_LENGTH}
    return sorted(found, key=len, reverse=True)


def scrub_text(text: str, values: list[str] | None = None) -> str:
    """`text` with every secret value and every `secret_key=value` assignment replaced by <redacted>."""
    for value in secret_values() if values is None else values:
        text = text.replace(value, REDACTED)
    return _ASSIGNMENT.sub(
        lambda m: f"{m['key']}={REDACTED}" if is_secret_key(m["key"]) and not _is_interpolation(m["value"]) else m[0],
        text,
    )


def scrub(value: Any, values: list[str] | None = None) -> Any:
    """A copy of plain data (dicts, lists, strings, numbers) with secrets redacted; configs become containers."""
    values = secret_values() if values is None else values
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=False, enum_to_str=True)
    if isinstance(value, Mapping):
        return {k: REDACTED if _holds_secret(k, v) else scrub(v, values) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(item, values) for item in value]
    if isinstance(value, str):
        return scrub_text(value, values)
    return value


def scrub_config(node: Any) -> DictConfig | ListConfig:
    """An OmegaConf node (for OmegaConf.save) with secrets redacted; interpolations are kept as written."""
    return OmegaConf.create(scrub(node))


def scrub_sweep_config(hydra_cfg: Any) -> None:
    """Redact secrets in Hydra's <sweep dir>/multirun.yaml (a `key=secret` override is recorded there too).

    Every job of a sweep may do this at once: each writes the same result by an atomic rename.
    """
    from hydra.types import RunMode

    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    path = Path(str(hydra_cfg.sweep.dir)) / "multirun.yaml"
    try:
        saved = OmegaConf.to_container(OmegaConf.load(path), resolve=False, enum_to_str=True)
    except OSError:
        return
    scrubbed = scrub(saved)
    if scrubbed == saved:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    OmegaConf.save(OmegaConf.create(scrubbed), tmp)
    os.replace(tmp, path)


@contextmanager
def scrubbed_argv() -> Iterator[None]:
    """sys.argv with secrets redacted, for libraries that record the command line (W&B's metadata)."""
    original = sys.argv
    sys.argv = [scrub_text(arg) for arg in original]
    try:
        yield
    finally:
        sys.argv = original


def _holds_secret(key: Any, value: Any) -> bool:
    return is_secret_key(str(key)) and isinstance(value, str) and bool(value) and not _is_interpolation(value)


def _is_interpolation(value: str) -> bool:
    # `${oc.env:HF_TOKEN}` names where the secret lives; it is not the secret.
    return value.startswith("${") and value.endswith("}")
