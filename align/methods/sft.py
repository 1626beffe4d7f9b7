"""Supervised fine-tuning with TRL's SFTTrainer on chat data (prompt/completion or messages)."""

from __future__ import annotations

from typing import Any

DATA_KIND = "sft"


def train(run: Any) -> dict[str, Any]:
    from trl import SFTConfig, SFTTrainer

    return run.finish(run.trainer(SFTTrainer, SFTConfig, DATA_KIND))
