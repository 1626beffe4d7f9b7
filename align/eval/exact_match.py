"""Exact match by greedy generation on held-out prompts with verifiable answers (the arithmetic data)."""

from __future__ import annotations

from typing import Any

from align.generation import generate_answers


def exact_match(model: Any, tokenizer: Any, pairs: list[tuple[list[dict], str]]) -> float:
    """Fraction of prompts whose greedy answer equals the reference exactly (after stripping)."""
    if not pairs:
        return 0.0
    predictions = generate_answers(model, tokenizer, [prompt for prompt, _ in pairs])
    return sum(pred == answer for pred, (_, answer) in zip(predictions, pairs, strict=True)) / len(pairs)


def exact_match_metrics(model: Any, tokenizer: Any, data: Any) -> dict[str, float]:
    """`eval_exact_match` for data with verifiable answers and a model that generates; else nothing."""
    from align.data import exact_match_set

    pairs = exact_match_set(data)
    if not pairs or not model.can_generate():  # a reward model scores, it does not answer
        return {}
    return {"eval_exact_match": exact_match(model, tokenizer, pairs)}
