"""Kahneman-Tversky Optimisation with TRL's KTOTrainer on unpaired examples (prompt, completion, label).

Paired preference data is split into one desirable and one undesirable row per pair (align/data/formats.py);
method.desirable_weight and method.undesirable_weight balance the two. The reference log-prob cache
(cache.ref_logps, align/cache.py) shares the reference's log-probs of each completion and of its KL
counterpart across jobs; the policy's side of the KL estimate changes every step and is never cached.
"""

from __future__ import annotations

from typing import Any

DATA_KIND = "unpaired"
# KTOConfig fields the reference log-probs depend on besides weights, tokenizer, rows, dtype and precision. The
# KL counterparts are made at tokenization by rotating completions within each block of
# per_device_train_batch_size rows, and only loss_type kto makes them; beta and the weights are not among them.
REF_SETTINGS = ("max_length", "loss_type", "per_device_train_batch_size")


def train(run: Any) -> dict[str, Any]:
    from trl import KTOConfig, KTOTrainer

    from align.cache import with_ref_cache

    trainer_class, extra = with_ref_cache(run.cfg, KTOTrainer, REF_SETTINGS)
    return run.finish(run.trainer(trainer_class, KTOConfig, DATA_KIND, **extra))
