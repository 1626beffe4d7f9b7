"""Kahneman-Tversky Optimisation with TRL's KTOTrainer on unpaired examples (prompt, completion, label).

Paired preference data is split into one desirable and one undesirable row per pair (align/data/formats.py);
method.desirable_weight and method.undesirable_weight balance the two.
"""

from __future__ import annotations

from typing import Any

DATA_KIND = "unpaired"


def train(run: Any) -> dict[str, Any]:
    from trl import KTOConfig, KTOTrainer

    return run.finish(run.trainer(KTOTrainer, KTOConfig, DATA_KIND))
