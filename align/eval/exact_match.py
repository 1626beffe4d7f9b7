"""Exact match on verifiable answers (the arithmetic data): `verify`, the one verifier that the held-out evaluation
and rejection sampling's reward share, and the evaluation itself, by greedy generation on held-out prompts.

A completion is read two ways, reported side by side: strict (the whole completion equals the reference, both
stripped) and extracted (its last number equals the reference's, GSM8K-style). A chat model answers
"23 + 19 = 42.", which strict match scores 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from align.generation import generate_answers

# New tokens per greedy answer: room for a sentence such as "23 + 19 = 42." (12 tokens, digits one by one).
MAX_NEW_TOKENS = 32
# A number: optional minus (not one between two operands, "23-19"), digits with optional thousands commas and
# decimals. A trailing full stop is not a decimal point.
_NUMBER = re.compile(r"(?:(?<![\d)])-)?\d+(?:,\d{3})*(?:\.\d+)?")


@dataclass(frozen=True)
class Verdict:
    strict: bool  # the whole completion is the reference
    extracted: bool  # its last number is the reference's number (or, for a reference without one, strict)


def last_number(text: str) -> Decimal | None:
    """The last number in `text` ("23 + 19 = 42." gives 42; "1,000" gives 1000), or None."""
    found = _NUMBER.findall(text)
    return Decimal(found[-1].replace(",", "")) if found else None


def verify(completion: str, reference: str) -> Verdict:
    """Strict and extracted match of a completion against its reference answer."""
    strict = completion.strip() == reference.strip()
    expected = last_number(reference)
    extracted = strict or (expected is not None and last_number(completion) == expected)
    return Verdict(strict, extracted)


def exact_match_scores(model: Any, tokenizer: Any, pairs: list[tuple[list[dict], str]]) -> tuple[float, float]:
    """(strict, extracted): fractions of prompts whose greedy answer matches the reference, read both ways."""
    if not pairs:
        return 0.0, 0.0
    predictions = generate_answers(model, tokenizer, [prompt for prompt, _ in pairs], MAX_NEW_TOKENS)
    verdicts = [verify(pred, answer) for pred, (_, answer) in zip(predictions, pairs, strict=True)]
    return (sum(v.strict for v in verdicts) / len(pairs), sum(v.extracted for v in verdicts) / len(pairs))


def exact_match(model: Any, tokenizer: Any, pairs: list[tuple[list[dict], str]]) -> float:
    """Fraction of prompts whose greedy answer equals the reference exactly (after stripping)."""
    return exact_match_scores(model, tokenizer, pairs)[0]


def exact_match_metrics(model: Any, tokenizer: Any, data: Any) -> dict[str, float]:
    """`eval_exact_match` (strict) and `eval_exact_match_extracted` for data with verifiable answers and a model
    that generates; else nothing."""
    from align.data import exact_match_set

    pairs = exact_match_set(data)
    if not pairs or not model.can_generate():  # a reward model scores, it does not answer
        return {}
    strict, extracted = exact_match_scores(model, tokenizer, pairs)
    return {"eval_exact_match": strict, "eval_exact_match_extracted": extracted}
