"""Rejection sampling (best-of-N): sample `method.num_samples` completions per prompt from the policy,
score them, and keep the best and the worst as a preference pair in `<run dir>/samples.jsonl`.

Scores come from a reward model (`method.reward_model`, e.g. a `method=reward` run's model/) or, without
one, from exact match with the data's reference completion: the verifiable reward of the arithmetic
default, read as the extracted match (the completion's last number, so "23 + 19 = 42." counts;
eval/exact_match.py), with the strict match's mean reported beside it. Prompts come from the data's
train split, or for the arithmetic default from fresh problems in neither split. Prompts whose samples
all score the same give no pair. Train on the pairs with
`method=dpo data=file data.path=<run dir>/samples.jsonl`.

Its keys are align's own (config/schema.py: RejectionSamplingConfig); `run` is called by the job (run/job.py)
and `plan_lines` by the dry run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from statistics import mean
from typing import Any

from omegaconf import OmegaConf

from align.errors import DataError
from align.hardware.devices import is_main_process

log = logging.getLogger(__name__)


def run(prepared: Any, run_dir: Path, hydra_cfg: Any) -> dict[str, Any]:
    from transformers import set_seed

    from align.generation import generate_answers, run_device
    from align.hardware.settings import use_cuda
    from align.model.load import load_model, load_tokenizer, model_path
    from align.outputs import write_jsonl
    from align.run.record import log_to_file, nothing_new_on_error, record_run

    cfg, method = prepared.cfg, prepared.cfg.method
    on_cuda = use_cuda(prepared.hardware)
    rows = _prompts(prepared)
    with nothing_new_on_error(run_dir):
        log_to_file(run_dir)
        # first: it converts a GGUF; vLLM loads the model's directory itself
        policy = (model_path(cfg.model) if cfg.generation.backend == "vllm"
                  else load_model(cfg.model, on_cuda).to(run_device(on_cuda)))
        tokenizer = load_tokenizer(cfg.model)
        record_run(run_dir, cfg, hydra_cfg, None)
    prompts = rows["prompt"]
    set_seed(method.seed)
    samples = generate_answers(
        policy, tokenizer, prompts, method.max_new_tokens, method.generation_batch_size,
        num_samples=method.num_samples, temperature=method.temperature, top_p=method.top_p,
        desc="rejection sampling", backend=cfg.generation.backend,
    )
    n = method.num_samples
    repeated = [p for p in prompts for _ in range(n)]
    references = [_text(c) for c in rows["completion"]] if method.reward_model is None else None
    scores, strict = _score(cfg, on_cuda, repeated, samples, references)
    pairs, best, worst = [], [], []
    for i, prompt in enumerate(prompts):
        own, texts = scores[i * n : (i + 1) * n], samples[i * n : (i + 1) * n]
        hi, lo = own.index(max(own)), own.index(min(own))
        best.append(own[hi])
        worst.append(own[lo])
        if own[hi] > own[lo]:
            pairs.append({
                "prompt": prompt,
                "chosen": _like(prompt, texts[hi]),
                "rejected": _like(prompt, texts[lo]),
                "score_chosen": own[hi],
                "score_rejected": own[lo],
                "scores": own,
            })
    if is_main_process():  # the processes share the sampling and each gets every sample; one writes
        write_jsonl(run_dir / "samples.jsonl", pairs)
    log.info("%d preference pairs from %d prompts in %s", len(pairs), len(prompts), run_dir / "samples.jsonl")
    metrics = {
        "num_prompts": len(prompts),
        "num_samples": n,
        "num_pairs": len(pairs),
        "scored_by": "reward_model" if strict is None else "exact_match_extracted",
        "mean_best_score": mean(best),
        "mean_worst_score": mean(worst),
        "mean_score": mean(scores),
        # what picking the best of N adds over one sample, in reward units (exact match: pass@N - pass@1)
        "best_of_n_gain": mean(best) - mean(scores),
    }
    if strict is not None:  # the whole completion equal to the answer, beside the extracted match that scores
        metrics["mean_strict_score"] = mean(strict)
    return metrics


def plan_lines(prepared: Any) -> list[str]:
    """What the dry run says instead of training costs: prompts, completions, and who scores them."""
    from align.plan.describe import line

    method = prepared.cfg.method
    if prepared.data is None:
        return [line("prompts", f"unknown: {prepared.data_problem}")]
    prompts = len(_prompts(prepared))
    return [
        line("prompts", f"{prompts} from {prepared.cfg.data.name} (train split)"),
        line("completions", f"{prompts * method.num_samples:,} = {prompts} x {method.num_samples} samples, "
             f"at most {method.max_new_tokens} new tokens, temperature {method.temperature}"),
        line("scored by", method.reward_model
             or "exact match with the data's reference completions (the last number of each completion)"),
    ]


def _prompts(prepared: Any) -> Any:
    """The train rows to sample from (the first method.num_prompts), with a reference answer unless a reward
    model scores."""
    method, rows = prepared.cfg.method, prepared.data.splits["train"]
    if method.reward_model is None and "completion" not in rows.column_names:
        raise DataError(
            f"method.reward_model is null, so completions are scored by exact match with a reference answer, "
            f"but the data has columns {', '.join(rows.column_names)} and no `completion`. "
            "Give method.reward_model=<path or Hub id>, or data with prompt and completion columns."
        )
    return rows if method.num_prompts is None else rows.select(range(min(method.num_prompts, len(rows))))


def _score(cfg: Any, on_cuda: bool, prompts: list, completions: list[str],
           references: list[str] | None) -> tuple[list[float], list[float] | None]:
    """The extracted exact match with each prompt's reference (repeated num_samples times) and the strict one, or
    the reward model's scores and None."""
    if references is not None:
        from align.eval.exact_match import verify

        n = len(completions) // len(references)
        verdicts = [verify(c, references[i // n]) for i, c in enumerate(completions)]
        return [float(v.extracted) for v in verdicts], [float(v.strict) for v in verdicts]
    from align.generation import reward_scores, run_device
    from align.methods import SEQUENCE_CLASSIFIER
    from align.model.load import load_model, load_tokenizer

    spec = reward_model_spec(cfg)
    scorer = load_model(spec, on_cuda, SEQUENCE_CLASSIFIER, num_labels=1).to(run_device(on_cuda))
    return reward_scores(scorer, load_tokenizer(spec), prompts, completions, cfg.method.generation_batch_size), None


def reward_model_spec(cfg: Any) -> Any:
    """The model settings of method.reward_model: the policy's loading options, but its own tokenizer and chat
    template (the one it was trained with), not the policy's model.chat_template."""
    return OmegaConf.merge(cfg.model, {"name_or_path": cfg.method.reward_model, "tokenizer_name_or_path": None,
                                       "gguf_file": None, "chat_template": None})


def _text(completion: Any) -> str:
    """The reference answer of a completion in standard (string) or conversational (messages) format."""
    return completion if isinstance(completion, str) else completion[-1]["content"].strip()


def _like(prompt: Any, text: str) -> Any:
    """A completion in the prompt's format: messages for a chat prompt, a string for a plain one."""
    return text if isinstance(prompt, str) else [{"role": "assistant", "content": text}]
