"""The method table: every fact about a training method in one row, read by the config schema, validation, the
data layer, the dry-run plan, the memory estimate and the run. Nothing here imports torch or TRL.

A row's key is what `method.trainer` names in conf/method/<option>.yaml (ipo.yaml says `trainer: dpo`). Adding a
TRL method whose trainer needs no glue is one row here and one yaml; a method with logic of its own (rejection
sampling) also names its module in this package, which provides `run(prepared, run_dir)` and `plan_lines`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

CAUSAL_LM = "AutoModelForCausalLM"
SEQUENCE_CLASSIFIER = "AutoModelForSequenceClassification"


@dataclass(frozen=True)
class Method:
    name: str
    # Import paths of TRL's trainer and config classes; None for a method align runs itself.
    trainer: str | None
    config: str | None
    # The data format it trains on (align/data/formats.py): sft, preference, unpaired, text or prompt; none: it reads
    # no data (method=evaluate).
    data_kind: str
    # One forward pass runs two sequences per row: chosen and rejected (KTO: a completion and its KL counterpart).
    paired: bool = False
    # A frozen reference model beside the policy (unless LoRA, whose adapter-disabled base serves as one, or the
    # reference log-prob cache, which precomputes what it would say).
    reference: bool = False
    model_class: str = CAUSAL_LM
    # Config fields the reference log-probs depend on besides weights, tokenizer, rows, dtype and precision: the
    # reference log-prob cache's key; only methods whose reference log-probs TRL can precompute have them.
    ref_settings: tuple[str, ...] = ()
    # Which rows TRL drops as too long (None: it truncates them), for the message when none are left.
    drops_long_rows: str | None = None
    # Module of this package with the method's own logic; None: the generic TRL run (align/run/train.py).
    module: str | None = None
    # Online: the policy samples completions that reward functions score (method.reward_funcs, methods/rewards.py).
    rewarded: bool = False

    @property
    def trains(self) -> bool:
        """Whether the method runs a TRL trainer (optimizer steps, checkpoints) rather than only generating."""
        return self.trainer is not None

    @property
    def task_type(self) -> str:
        """peft's task type for LoRA on this method's model."""
        return "SEQ_CLS" if self.model_class == SEQUENCE_CLASSIFIER else "CAUSAL_LM"

    def own_module(self) -> ModuleType:
        return importlib.import_module(f"{__name__}.{self.module}")


_DPO_DROPS = "rows whose prompt alone fills method.max_length (with truncation_mode keep_start)"

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("sft", "trl.SFTTrainer", "trl.SFTConfig", "sft"),
        # continued pretraining: the causal-LM loss on raw text, packed (conf/method/cpt.yaml)
        Method("cpt", "trl.SFTTrainer", "trl.SFTConfig", "text"),
        Method("dpo", "trl.DPOTrainer", "trl.DPOConfig", "preference", paired=True, reference=True,
               # every loss reads the token-summed log-probs, so neither loss_type nor beta is among them;
               # ld_alpha changes the sum itself
               ref_settings=("max_length", "truncation_mode", "ld_alpha"), drops_long_rows=_DPO_DROPS),
        Method("kto", "trl.KTOTrainer", "trl.KTOConfig", "unpaired", paired=True, reference=True,
               # KL counterparts are made by rotating completions within blocks of per_device_train_batch_size
               # rows, and only loss_type kto makes them
               ref_settings=("max_length", "loss_type", "per_device_train_batch_size")),
        Method("reward", "trl.RewardTrainer", "trl.RewardConfig", "preference", paired=True,
               model_class=SEQUENCE_CLASSIFIER,
               drops_long_rows="pairs whose chosen or rejected conversation is longer than method.max_length"),
        Method("orpo", "trl.experimental.orpo.ORPOTrainer", "trl.experimental.orpo.ORPOConfig", "preference",
               paired=True),
        # SimPO is CPO with loss_type simpo and cpo_alpha 0 (conf/method/simpo.yaml)
        Method("cpo", "trl.experimental.cpo.CPOTrainer", "trl.experimental.cpo.CPOConfig", "preference",
               paired=True),
        Method("rejection_sampling", None, None, "prompt", module="rejection_sampling"),
        # the evaluations of eval=... on model.name_or_path as it is (methods/evaluate.py, eval/run.py)
        Method("evaluate", None, None, "none", module="evaluate"),
        # online RL: prompts in, completions sampled and scored during training; GRPO holds a reference only when
        # beta > 0 (TRL's default is 0), RLOO's default beta is 0.05, online DPO always compares to one
        Method("grpo", "trl.GRPOTrainer", "trl.GRPOConfig", "prompt", rewarded=True),
        Method("rloo", "trl.RLOOTrainer", "trl.RLOOConfig", "prompt", reference=True, rewarded=True),
        Method("online_dpo", "trl.experimental.online_dpo.OnlineDPOTrainer",
               "trl.experimental.online_dpo.OnlineDPOConfig", "prompt", paired=True, reference=True, rewarded=True),
    )
}


def import_class(path: str) -> type:
    """`trl.DPOTrainer` -> the class (imports TRL)."""
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)
