"""Odds Ratio Preference Optimisation with TRL's experimental ORPOTrainer.

SFT and preference in one loss (NLL plus an odds-ratio term), no reference model.
"""

from __future__ import annotations

from typing import Any

DATA_KIND = "preference"


def train(run: Any) -> dict[str, Any]:
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return run.finish(run.trainer(ORPOTrainer, ORPOConfig, DATA_KIND))
