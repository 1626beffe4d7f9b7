"""Contrastive Preference Optimisation with TRL's experimental CPOTrainer; SimPO is its `loss_type: simpo`.

conf/method/simpo.yaml selects SimPO (loss_type simpo, cpo_alpha 0) as TRL documents; no reference model.
"""

from __future__ import annotations

from typing import Any

DATA_KIND = "preference"


def train(run: Any) -> dict[str, Any]:
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    return run.finish(run.trainer(CPOTrainer, CPOConfig, DATA_KIND))
