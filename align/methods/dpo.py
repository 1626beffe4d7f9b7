"""Direct Preference Optimisation and its loss variants (method.loss_type) with TRL's DPOTrainer.

TRL makes the reference model itself: a frozen copy of the starting policy, or with LoRA the
adapter-disabled base model, so no second copy is held.
"""

from __future__ import annotations

from typing import Any

DATA_KIND = "preference"


def train(run: Any) -> dict[str, Any]:
    from trl import DPOConfig, DPOTrainer

    return run.finish(run.trainer(DPOTrainer, DPOConfig, DATA_KIND))
