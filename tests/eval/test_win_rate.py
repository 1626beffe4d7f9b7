"""Win rate: both orders judged, FastChat's rule for combining them, ties counted half, unrated pairs apart, the
answer lengths; MT-Bench's first-turn answers reused instead of generated again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from align.eval import win_rate
from align.eval.judges import Judgment, PairRequest
from align.eval.prompts import Question


def j(winner: str | None) -> Judgment:
    return Judgment(winner=winner)


@pytest.mark.parametrize(
    ("model_as_a", "model_as_b", "expected"),
    [
        ("A", "B", "win"), ("A", "tie", "win"), ("tie", "B", "win"),
        ("B", "A", "loss"), ("B", "tie", "loss"), ("tie", "A", "loss"),
        ("tie", "tie", "tie"), ("A", "A", "tie"), ("B", "B", "tie"),  # a judge that always picks one position
        (None, "B", None), ("A", None, None),
    ],
)
def test_fastchats_rule_for_two_orders(model_as_a: str | None, model_as_b: str | None, expected: str | None):
    assert win_rate.outcome(j(model_as_a), j(model_as_b)) == expected


class Judge:
    """Prefers the longer answer, or always the first position (`biased`); no verdict for an answer of "?"."""

    id = "fake"

    def __init__(self, biased: bool = False) -> None:
        self.biased = biased
        self.requests: list[PairRequest] = []

    def rate(self, requests):  # pragma: no cover - the win rate compares only
        raise AssertionError("the win rate does not rate")

    def compare(self, requests: list[PairRequest]) -> list[Judgment]:
        self.requests += requests
        out = []
        for r in requests:
            a, b = r.turns_a[-1].answer, r.turns_b[-1].answer
            if "?" in (a, b):
                out.append(Judgment(raw="unreadable"))
            elif self.biased:
                out.append(Judgment(winner="A"))
            else:
                out.append(Judgment(winner="A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie"))
        return out


QUESTIONS = [Question(i, "general", (f"q{i}",), ()) for i in range(4)]


def test_wins_ties_and_unrated_pairs(tmp_path: Path):
    judge = Judge()
    metrics = win_rate.judge(QUESTIONS, ["long answer", "x", "same", "?"], ["short", "longer", "four", "b"], judge,
                             tmp_path)
    assert metrics == {"win_rate": 0.5, "win_rate_ties": pytest.approx(1 / 3), "win_rate_answer_length": 4.25,
                       "win_rate_baseline_answer_length": 4.0}  # (1 win + 0.5 tie) / 3 judged
    assert len(judge.requests) == 8  # each pair in both orders: the model as A, then as B
    assert [r.turns_a[0].answer for r in judge.requests[4:]] == ["short", "longer", "four", "b"]
    results = json.loads((tmp_path / "results.json").read_text())
    assert (results["wins"], results["losses"], results["ties"], results["judged"], results["unrated"]) == (1, 1, 1,
                                                                                                           3, 1)
    rows = [json.loads(line) for line in (tmp_path / "judgments.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in rows] == ["win", "loss", "tie", None]
    assert (rows[0]["model_as_a"], rows[0]["model_as_b"]) == ("A", "B")


def test_position_bias_cancels_out(tmp_path: Path):
    metrics = win_rate.judge(QUESTIONS, ["a"] * 4, ["bb"] * 4, Judge(biased=True), tmp_path)
    assert metrics["win_rate"] == 0.5 and metrics["win_rate_ties"] == 1.0


def test_nothing_judged_reports_no_rate(tmp_path: Path):
    metrics = win_rate.judge(QUESTIONS[:1], ["?"], ["b"], Judge(), tmp_path)
    assert "win_rate" not in metrics and metrics["win_rate_answer_length"] == 1.0


def test_known_first_turn_answers_are_not_generated_again(monkeypatch: pytest.MonkeyPatch):
    asked: list[list[list[str]]] = []

    def answer_conversations(model, tokenizer, conversations, max_new_tokens, batch_size=16, system=None, desc=""):
        asked.append(conversations)
        return [[f"new {c[0]}"] for c in conversations]

    monkeypatch.setattr("align.generation.answer_conversations", answer_conversations)
    settings = OmegaConf.create({"max_new_tokens": 8, "batch_size": 2})
    answers = win_rate.answer(None, None, QUESTIONS, settings, "win rate", known={"q0": "old q0", "q2": "old q2"})
    assert answers == ["old q0", "new q1", "old q2", "new q3"] and asked == [[["q1"], ["q3"]]]
