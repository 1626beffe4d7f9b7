"""Continued pretraining: causal-LM loss on raw text (`text` column), packed into full-length sequences.

TRL's SFTTrainer does the work; conf/method/cpt.yaml turns packing on (the handbook's gpt2-nl recipe).
"""

from __future__ import annotations

from typing import Any

DATA_KIND = "text"


def train(run: Any) -> dict[str, Any]:
    from trl import SFTConfig, SFTTrainer

    return run.finish(run.trainer(SFTTrainer, SFTConfig, DATA_KIND))
