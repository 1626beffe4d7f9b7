"""Judges: who scores a model's answers for the evaluations (eval/mt_bench.py, eval/win_rate.py).

A judge rates one answer in its conversation (MT-Bench's single-answer grading: a score, 1-10 for an LLM judge,
the scalar for a reward model) or compares two answers to the same question (pairwise grading: A, B or a tie).
An answer the judge could not rate is a `Judgment` with `score`/`winner` None and the reason in `raw`, never an
exception. Options: `judge=reward_model` (judges/reward_model.py), `judge=openai` (judges/openai.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Winner = Literal["A", "B", "tie"]


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str
    reference: str | None = None  # a reference answer (MT-Bench's math, reasoning and coding questions)


@dataclass(frozen=True)
class RateRequest:
    """Rate the answer of the last turn, with the earlier turns as its context."""

    question_id: str
    category: str
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class PairRequest:
    """Compare the last turn's answers of two conversations on the same questions: A is `turns_a`."""

    question_id: str
    category: str
    turns_a: tuple[Turn, ...]
    turns_b: tuple[Turn, ...]


@dataclass(frozen=True)
class Judgment:
    score: float | None = None  # a rating; None for a pairwise judgment or an answer left unrated
    winner: Winner | None = None  # a pairwise verdict; None for a rating or a verdict that could not be read
    raw: str = ""  # the judge's own output (an LLM judge's text), or why there is no verdict


class Judge(Protocol):
    # Names the judge and its settings that change verdicts (model, prompt version): the judgments cache's key.
    id: str

    def rate(self, requests: list[RateRequest]) -> list[Judgment]: ...

    def compare(self, requests: list[PairRequest]) -> list[Judgment]: ...
