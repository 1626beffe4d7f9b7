"""The typed schema of the composed config: one dataclass per group option, stored in Hydra's ConfigStore
(config/store.py) so that conf/<group>/<option>.yaml extends it and struct mode rejects a misspelt key.

Nothing here imports torch, transformers or TRL: composing and `--cfg job` stay fast. A method's schema is
generated from its TRL config class (config/store.py), so `method.<field>` takes every TRL field under TRL's name;
here are align's own method keys, the renamed handbook names and the other groups' schemas.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING


@dataclass
class TinyBuild:
    """Architecture of the built-in Llama-style model (used when model.name_or_path is null)."""

    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 3
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    max_position_embeddings: int = 128
    vocab_size: int = 384
    init_seed: int = 0


@dataclass
class ModelConfig:
    name: str = "custom"
    # Hub id (org/name) or local directory; null builds the tiny model described by `build`.
    name_or_path: str | None = None
    revision: str = "main"
    # A GGUF checkpoint (llama.cpp, Ollama, LM Studio): the .gguf file's name inside name_or_path (a local directory
    # or a Hub repo). Converted once to a transformers directory in the align cache (align/model/gguf.py).
    gguf_file: Optional[str] = None
    tokenizer_name_or_path: str | None = None
    dtype: str = "auto"
    attn_implementation: str = "auto"
    trust_remote_code: bool = False
    # Chat template: null uses the tokenizer's own; a named template (e.g. zephyr) or a Jinja string overrides it.
    chat_template: Optional[str] = None
    build: TinyBuild | None = None


@dataclass
class ArithmeticDataConfig:
    """Generated chat arithmetic ("What is 23 + 19?" -> "42") in every format a method needs."""

    name: str = "arithmetic"
    num_train: int = 2000
    # Held out from every stage (rejection sampling draws fresh problems beyond both splits).
    num_test: int = 1000
    max_operand: int = 99
    operations: list[str] = field(default_factory=lambda: ["+"])
    seed: int = 0
    # Held-out prompts answered by greedy generation for `eval_exact_match` (0 disables it).
    num_exact_match: int = 100


@dataclass
class FileDataConfig:
    """Rows from a local file or directory (json, jsonl, parquet, csv) in any format align adapts (docs/data.md)."""

    name: str = "file"
    path: Optional[str] = None
    # auto: detect the row format from the columns and the file format from the suffix. Or force one: a row
    # format (messages, sharegpt, alpaca, hh, trl, or a TRL format: sft, preference, unpaired, text) or a
    # file format (json, jsonl, parquet, csv).
    format: str = "auto"
    # Split to train on: a single file is `train`; a directory's files named train*/test* form splits.
    split: str = "train"
    # Split to evaluate on; null: hold out test_split_size of the train rows.
    test_split: Optional[str] = None
    # Fraction of rows held out as the test split (0: train on every row, no evaluation), or a whole number of rows.
    test_split_size: float = 0.05
    seed: int = 0
    # Use at most this many rows (after shuffling with `seed`); null: all of them.
    max_samples: Optional[int] = None


@dataclass
class DataSource:
    """One source of a `data=mixture`: a Hub dataset id or a local file/directory."""

    path: str = MISSING
    # Fraction of this source's rows used, in (0, 1] (the handbook's dataset_mixer semantics).
    weight: float = 1.0
    split: str = "train"
    # Split to evaluate on (e.g. test_prefs); null: hold out data.test_split_size of the train rows.
    test_split: Optional[str] = None
    # Hub dataset configuration (subset) name.
    config: Optional[str] = None
    # Keep only these columns (null: all). A chat_template_kwargs column is passed on to the template of each row.
    columns: Optional[list[str]] = None
    # auto: detect from the columns; or a row or file format to force, as data=file's `format`.
    format: str = "auto"
    revision: Optional[str] = None


@dataclass
class MixtureDataConfig:
    """Several weighted sources converted to one format and concatenated (the handbook's dataset_mixer)."""

    name: str = "mixture"
    sources: list[DataSource] = field(default_factory=list)
    # Held out for evaluation from sources without a test_split: a fraction of each source's rows, or a whole number
    # of rows of the whole mixture (the handbook's `test_split_size: 2000`); 0: none.
    test_split_size: float = 0.05
    seed: int = 0
    max_samples: Optional[int] = None


@dataclass
class RejectionSamplingConfig:
    """Best-of-N sampling: `num_samples` completions per prompt, best and worst kept as a preference pair.

    Not a TRL trainer, so its keys are align's own, named like transformers' generation arguments.
    """

    name: str = "rejection_sampling"
    trainer: str = "rejection_sampling"
    num_samples: int = 8
    # Sequence-classification model (path or Hub id) that scores completions; null scores by exact match
    # with the data's reference completion (the verifiable reward of the arithmetic default).
    reward_model: Optional[str] = None
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    # Completions generated per forward batch (prompts x num_samples).
    generation_batch_size: int = 64
    # Use the first num_prompts train prompts; null: all of them.
    num_prompts: Optional[int] = None
    seed: int = 42


@dataclass
class RewardKeys:
    """align's own keys of the online methods (grpo, rloo, online_dpo), beside TRL's: TRL takes reward functions
    as a trainer argument, so they are named here (align/methods/rewards.py) and weighted by TRL's
    `method.reward_weights`."""

    # Each one of: a built-in name (exact_match, format, length), an import path `package.module:function` with
    # TRL's reward-function signature (completions, **columns -> list[float]), or a sequence-classification reward
    # model (a local directory, e.g. a method=reward run's model/, or a Hub id).
    reward_funcs: list[str] = field(default_factory=lambda: ["exact_match"])
    # exact_match: the column holding each prompt's reference answer; null: the data's reference completion
    # (the arithmetic default's answers, or the completion of prompt/completion and chat data).
    reference_column: Optional[str] = None
    # format: the regular expression a completion must match in full to score 1 (else 0).
    format_pattern: str = r"-?\d+"
    # length: completions longer than this many tokens lose (tokens beyond it) / length_target.
    length_target: int = 64


REWARD_KEYS = tuple(f.name for f in dataclasses.fields(RewardKeys))


@dataclass
class HardwareConfig:
    """Where and how many processes train; multi-process options relaunch through accelerate."""

    name: str = "auto"
    # auto: CUDA when present, else CPU.
    device: str = "auto"
    # no (one process), ddp, deepspeed (ZeRO stage `zero_stage`) or fsdp (FSDP2, full shard).
    distributed: str = "no"
    # Processes per machine; null means one per visible GPU for multi-process options.
    num_processes: Optional[int] = None
    # auto: bf16 where the device supports it, else full precision. Explicit method.bf16/fp16 win.
    mixed_precision: str = "auto"
    zero_stage: int = 3
    offload_optimizer: bool = False
    offload_params: bool = False
    cpu_ram_efficient_loading: bool = False
    # The peft.method this option is made for (fsdp_qlora: qlora); null: any.
    requires_peft: Optional[str] = None
    # Multi-node: filled from SLURM's environment (SLURM_NNODES, SLURM_NODEID, nodelist) when null.
    num_machines: Optional[int] = None
    machine_rank: Optional[int] = None
    main_process_ip: Optional[str] = None
    main_process_port: Optional[int] = None


@dataclass
class PeftConfig:
    """LoRA settings under peft's own names; `method: none` trains all weights, `qlora` adds 4-bit NF4."""

    name: str = "none"
    method: str = "none"
    r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: Any = "all-linear"
    bias: str = "none"
    merge: bool = False


@dataclass
class TrackingConfig:
    """Where metrics go besides metrics.json: W&B and/or TensorBoard, through the trainer's report_to."""

    name: str = "none"
    # Any of wandb, tensorboard (both at once: tracking=wandb_tensorboard).
    backends: list[str] = field(default_factory=list)
    # W&B project and entity (team or user; null: the account's default entity).
    project: str = "align"
    entity: str | None = None
    # W&B run group; null: the sweep directory (all jobs of a multirun share it), else the run directory.
    group: Optional[str] = None
    # W&B run name; null: the method and the job's swept overrides, e.g. dpo-beta=0.1.
    run_name: Optional[str] = None
    tags: list[str] = field(default_factory=list)


@dataclass
class CacheConfig:
    """What runs share through align's cache; see docs/performance.md (reference log-prob cache)."""

    # Store and reuse the reference model's log-probs (and the tokenized splits) of DPO/KTO runs across jobs.
    # null: on for methods with a reference model, unless method.sync_ref_model moves the reference.
    ref_logps: Optional[bool] = None
    # null: $ALIGN_CACHE_DIR/ref_logps, else ~/.cache/align/ref_logps.
    dir: Optional[str] = None


@dataclass
class GenerationConfig:
    """How evaluations and rejection sampling generate (align/generation.py, docs/generation.md)."""

    # transformers: batched model.generate on the run's device; vllm: vLLM's engine (a CUDA GPU and the vllm package).
    backend: str = "transformers"
    # Prompts per batch and process, the longest first.
    batch_size: int = 16


@dataclass
class EvaluateConfig:
    """method=evaluate: the evaluations (eval=...) on model.name_or_path as it is, without training."""

    name: str = "evaluate"
    trainer: str = "evaluate"
    seed: int = 42


@dataclass
class MTBenchConfig:
    """eval=mt_bench: MT-Bench's two-turn questions answered greedily, each turn rated by the judge."""

    name: str = "mt_bench"
    # A Hub dataset (columns prompt, category, prompt_id, reference) or a local jsonl in FastChat's question format
    # ({"question_id", "category", "turns": [q1, q2], "reference": [r1, r2]}).
    prompts: str = "HuggingFaceH4/mt_bench_prompts"
    max_new_tokens: int = 1024
    # Answer the first `limit` questions only; null: all of them.
    limit: Optional[int] = None
    # Conversations answered per forward batch.
    batch_size: int = 16


@dataclass
class WinRateConfig:
    """eval=win_rate: the model's answers against a baseline's on the same prompts, judged pairwise in both orders."""

    name: str = "win_rate"
    # The model to compare with (a directory or Hub id); null: the run's starting model (model.name_or_path before
    # training). Required with method=evaluate.
    baseline: Optional[str] = None
    # Questions whose first turns are the prompts (the same sources as eval.mt_bench.prompts); null: MT-Bench's,
    # from eval.mt_bench.prompts.
    prompts: Optional[str] = None
    max_new_tokens: int = 1024
    limit: Optional[int] = None
    batch_size: int = 16


@dataclass
class LmEvalConfig:
    """eval=lm_eval: tasks of EleutherAI's lm-evaluation-harness on the model (align/eval/lm_eval.py)."""

    name: str = "lm_eval"
    tasks: list[str] = field(default_factory=list)
    # A folder of task YAMLs of your own, beside the harness's tasks.
    include_path: Optional[str] = None
    # Examples per task: a count, or a fraction below 1; null: all.
    limit: Optional[float] = None
    num_fewshot: Optional[int] = None
    # A batch size, or "auto".
    batch_size: Any = 8


@dataclass
class ExactMatchConfig:
    """eval=exact_match: greedy answers to the data's held-out verifiable prompts (data.num_exact_match of them)."""

    name: str = "exact_match"


@dataclass
class EvalSelection:
    """The evaluations chosen with eval=... (one or a list): each selected option's keys, null when not selected."""

    exact_match: Optional[ExactMatchConfig] = None
    mt_bench: Optional[MTBenchConfig] = None
    win_rate: Optional[WinRateConfig] = None
    lm_eval: Optional[LmEvalConfig] = None


@dataclass
class RewardModelJudgeConfig:
    """judge=reward_model: a sequence-classification reward model scores each answer (its scalar), with its own
    tokenizer and chat template."""

    name: str = "reward_model"
    # A local directory (e.g. a method=reward run's model/) or a Hub id.
    model: Optional[str] = None
    # Conversations scored per forward batch.
    batch_size: int = 16


@dataclass
class OpenAIJudgeConfig:
    """judge=openai: an OpenAI-compatible chat endpoint grades with MT-Bench's prompts ([[rating]], [[A]])."""

    name: str = "openai"
    base_url: str = "https://api.openai.com/v1"
    model: Optional[str] = None
    # The environment variable holding the API key (never written anywhere).
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    max_retries: int = 5
    timeout_s: float = 60.0
    max_tokens: int = 1024
    temperature: float = 0.0


JUDGE_SCHEMAS: dict[str, type] = {"reward_model": RewardModelJudgeConfig, "openai": OpenAIJudgeConfig}


@dataclass
class AlignConfig:
    model: Any = MISSING
    method: Any = MISSING
    data: Any = MISSING
    hardware: Any = MISSING
    peft: Any = MISSING
    tracking: Any = MISSING
    # Evaluations after training (or with method=evaluate instead of it), and who judges them: eval=..., judge=...
    eval: EvalSelection = field(default_factory=EvalSelection)
    judge: Any = None
    cache: CacheConfig = field(default_factory=CacheConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    dry_run: bool = False
    # The tuning file that set values for this model (conf/tune/tiny/<method>.yaml, the embedded tiny model's);
    # null: none did, and the method's and TRL's own values apply.
    tuning: Optional[str] = None
    # auto: continue from the run directory's latest complete checkpoint, if any; never: train from scratch;
    # or a checkpoint directory to continue from (docs/resume.md).
    resume: str = "auto"


# Handbook and TRL argument names that current transformers/TRL renamed: old name -> new name. Validation moves
# a value given under the old name to the new one (align/config/validate.py), once.
RENAMED_FIELDS = {
    "warmup_ratio": "warmup_steps",  # transformers 5: warmup_steps < 1 is a ratio of total steps
    "max_seq_length": "max_length",  # TRL SFTConfig
    "evaluation_strategy": "eval_strategy",  # transformers 4.46
    "gradient_checkpointing": "activation_checkpointing",  # transformers 5 (the old name warns)
    "gradient_checkpointing_kwargs": "activation_checkpointing_kwargs",
}

# Values that current TRL renamed: (field, old value) -> new value, moved by validation like the names above.
RENAMED_VALUES = {
    ("packing_strategy", "ffd"): "bfd",  # TRL 0.20: the same best-fit decreasing packing under its right name
}

# Method schemas that are align's own (no TRL config class behind them), by method name.
OWN_METHOD_SCHEMAS: dict[str, type] = {"rejection_sampling": RejectionSamplingConfig, "evaluate": EvaluateConfig}
