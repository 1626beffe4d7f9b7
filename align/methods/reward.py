"""Reward modelling: a one-score sequence classifier trained on preference pairs with TRL's RewardTrainer.

`eval_accuracy` is the fraction of held-out pairs scored chosen > rejected; model/ loads with
AutoModelForSequenceClassification and can score rejection sampling (method.reward_model=<run>/model).
"""

from __future__ import annotations

from typing import Any

DATA_KIND = "preference"


def train(run: Any) -> dict[str, Any]:
    from trl import RewardConfig, RewardTrainer

    trainer = run.trainer(RewardTrainer, RewardConfig, DATA_KIND, model_class="AutoModelForSequenceClassification")
    return run.finish(trainer)
