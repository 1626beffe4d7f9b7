"""Rejection sampling (best-of-N): sample `method.num_samples` completions per prompt from the policy,
score them, and keep the best and the worst as a preference pair in `<run dir>/samples.jsonl`.

Scores come from a reward model (`method.reward_model`, e.g. a `method=reward` run's model/) or, without
one, from exact match with the data's reference completion: the verifiable reward of the arithmetic
default. Prompts come from the data's train split, or for the arithmetic default from fresh problems in
neither split. Prompts whose samples all score the same give no pair. Train on the pairs with
`method=dpo data=file data.path=<run dir>/samples.jsonl`.
"""

from __future__ import annotations

import logging
import os
from statistics import mean
from typing import Any

from omegaconf import OmegaConf

from align.errors import DataError

DATA_KIND = "prompt"
log = logging.getLogger(__name__)


def train(run: Any) -> dict[str, Any]:
    from transformers import set_seed

    from align.evaluation import generate_answers
    from align.outputs import write_jsonl

    method = run.cfg.method
    rows = run.dataset(DATA_KIND)["train"]
    if method.num_prompts is not None:
        rows = rows.select(range(min(method.num_prompts, len(rows))))
    if method.reward_model is None and "completion" not in rows.column_names:
        raise DataError(
            f"method.reward_model is null, so completions are scored by exact match with a reference answer, "
            f"but the data has columns {', '.join(rows.column_names)} and no `completion`. "
            "Give method.reward_model=<path or Hub id>, or data with prompt and completion columns."
        )
    prompts = rows["prompt"]
    set_seed(method.seed)
    samples = generate_answers(
        run.model(), run.tokenizer, prompts, method.max_new_tokens, method.generation_batch_size,
        num_samples=method.num_samples, temperature=method.temperature, top_p=method.top_p,
        desc="rejection sampling",
    )
    n = method.num_samples
    repeated = [p for p in prompts for _ in range(n)]
    scores = _score(run, repeated, samples, [_text(c) for c in rows["completion"]] if method.reward_model is None
                    else None)
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
    if int(os.environ.get("RANK", "0")) == 0:  # every process samples the same; one writes
        write_jsonl(run.run_dir / "samples.jsonl", pairs)
    log.info("%d preference pairs from %d prompts in %s", len(pairs), len(prompts), run.run_dir / "samples.jsonl")
    return {
        "num_prompts": len(prompts),
        "num_samples": n,
        "num_pairs": len(pairs),
        "mean_best_score": mean(best),
        "mean_worst_score": mean(worst),
        "mean_score": mean(scores),
        # what picking the best of N adds over one sample, in reward units (exact match: pass@N - pass@1)
        "best_of_n_gain": mean(best) - mean(scores),
    }


def _score(run: Any, prompts: list, completions: list[str], references: list[str] | None) -> list[float]:
    """Exact match with each prompt's reference (repeated num_samples times), or the reward model's scores."""
    if references is not None:
        n = len(completions) // len(references)
        return [float(c == references[i // n]) for i, c in enumerate(completions)]
    from align.evaluation import reward_scores
    from align.models import load_model, load_tokenizer

    spec = OmegaConf.merge(run.cfg.model, {"name_or_path": run.cfg.method.reward_model, "tokenizer_name_or_path": None})
    scorer = load_model(spec, run.on_cuda, "AutoModelForSequenceClassification", num_labels=1)
    return reward_scores(scorer, load_tokenizer(spec), prompts, completions, run.cfg.method.generation_batch_size)


def _text(completion: Any) -> str:
    """The reference answer of a completion in standard (string) or conversational (messages) format."""
    return completion if isinstance(completion, str) else completion[-1]["content"].strip()


def _like(prompt: Any, text: str) -> Any:
    """A completion in the prompt's format: messages for a chat prompt, a string for a plain one."""
    return text if isinstance(prompt, str) else [{"role": "assistant", "content": text}]
