"""Direct Preference Optimisation and its loss variants (method.loss_type) with TRL's DPOTrainer.

The reference is the starting policy. By default (cache.ref_logps, align/cache.py) TRL precomputes its
log-probs before training and keeps no reference model, and jobs that differ only in beta or the loss reuse
them from align's cache. With cache.ref_logps=false TRL holds a frozen copy of the policy, or with LoRA uses
the adapter-disabled base model, so no second copy is held.
"""

from __future__ import annotations

from typing import Any

DATA_KIND = "preference"
# DPOConfig fields the reference log-probs depend on besides weights, tokenizer, rows, dtype and precision. Every
# loss reads the token-summed log-probs (ipo and sigmoid_norm divide by the length in the loss), so neither the
# loss type nor beta is among them; ld_alpha changes the sum itself.
REF_SETTINGS = ("max_length", "truncation_mode", "ld_alpha")


def train(run: Any) -> dict[str, Any]:
    from trl import DPOConfig, DPOTrainer

    from align.cache import with_ref_cache

    trainer_class, extra = with_ref_cache(run.cfg, DPOTrainer, REF_SETTINGS)
    return run.finish(run.trainer(trainer_class, DPOConfig, DATA_KIND, **extra))
