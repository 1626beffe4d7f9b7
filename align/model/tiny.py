"""The embedded tiny model: a Llama-architecture model built from a config, with a tokenizer align trains itself.

Built once per architecture and cached (atomically, under a file lock) in `<cache>/tiny/<key>/`, so it
loads with `from_pretrained` like any other local model. Its directory, and every model/ trained from it,
carries LINEAGE_FILE: what tells the tiny tuning (conf/tune/tiny/) which models it is for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from align.paths import cache_dir

log = logging.getLogger(__name__)

# Bump when the tokenizer corpus, special tokens, template or directory layout change: it changes the cache key.
BUILD_VERSION = 2
# In a model directory: this model is the tiny build or was trained from it (copied into each saved model/).
LINEAGE_FILE = "align_lineage.json"

SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>", "<|unk|>"]

# ChatML-like template; {% generation %} marks assistant tokens for TRL's assistant_only_loss.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|end|>' }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def tiny_model_dir(build: dict[str, Any]) -> Path:
    """Directory of the tiny model for this architecture; built on first use."""
    key = hashlib.sha256(json.dumps({**build, "v": BUILD_VERSION}, sort_keys=True).encode()).hexdigest()[:16]
    target = cache_dir() / "tiny" / key
    if (target / "config.json").is_file():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / "config.json").is_file():
            _build(build, target)
    return target


def is_tiny_lineage(name_or_path: str | None) -> bool:
    """The tiny build itself (no path), or a local model directory that descends from it."""
    if name_or_path is None:
        return True
    path = Path(name_or_path).expanduser() / LINEAGE_FILE
    try:
        return json.loads(path.read_text()).get("lineage") == "tiny"
    except (OSError, ValueError, AttributeError):
        return False


def pass_on_lineage(source: str | None, model_dir: Path) -> None:
    """Mark a saved model directory as trained from the tiny model when its starting model `source` was."""
    if is_tiny_lineage(source):
        origin = Path(source).expanduser() / LINEAGE_FILE if source else None
        text = origin.read_text() if origin is not None else json.dumps({"lineage": "tiny"}) + "\n"
        (model_dir / LINEAGE_FILE).write_text(text)


def _tokenizer_corpus() -> list[str]:
    """Text to learn merges from: chat-formatted arithmetic, plus English words the prompts use."""
    from align.data.arithmetic import corpus

    return corpus()


def build_tokenizer(vocab_size: int):
    """Byte-level BPE with single-digit pre-tokenisation (numbers stay digit by digit)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<|unk|>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_tokenizer_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|bos|>",
        eos_token="<|end|>",
        pad_token="<|pad|>",
        unk_token="<|unk|>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _build(build: dict[str, Any], target: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    log.info("Building the tiny model once (cached in %s)", target)
    tokenizer = build_tokenizer(build["vocab_size"])
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=build["hidden_size"],
        intermediate_size=build["intermediate_size"],
        num_hidden_layers=build["num_hidden_layers"],
        num_attention_heads=build["num_attention_heads"],
        num_key_value_heads=build["num_key_value_heads"],
        max_position_embeddings=build["max_position_embeddings"],
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(build["init_seed"])
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / LINEAGE_FILE).write_text(json.dumps({"lineage": "tiny", "build": build}) + "\n")
        if target.exists():  # a partial directory (no config.json) from an interrupted or foreign writer
            log.warning("Replacing the incomplete tiny model directory %s", target)
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
