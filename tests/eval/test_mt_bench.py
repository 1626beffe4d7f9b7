"""MT-Bench: questions from FastChat's jsonl or the Hub dataset's columns, every turn rated in its conversation,
judgments.jsonl and results.json written, unrated turns counted apart, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.errors import DataError
from align.eval import mt_bench
from align.eval.judges import Judgment, RateRequest
from align.eval.prompts import load_questions
from tests.eval.conftest import QUESTIONS


class LengthJudge:
    """Rates an answer by its length; an answer of "?" is unrated."""

    id = "length"

    def __init__(self) -> None:
        self.requests: list[RateRequest] = []

    def rate(self, requests: list[RateRequest]) -> list[Judgment]:
        self.requests += requests
        return [Judgment(raw="no verdict") if r.turns[-1].answer == "?" else
                Judgment(score=float(len(r.turns[-1].answer)), raw="[[n]]") for r in requests]

    def compare(self, requests):  # pragma: no cover - MT-Bench rates only
        raise AssertionError("MT-Bench does not compare")


@pytest.mark.skipif(not QUESTIONS.is_file(), reason=f"the shared MT-Bench questions {QUESTIONS} are absent")
def test_the_shared_sample_is_mt_benchs_80_two_turn_questions():
    questions = load_questions(str(QUESTIONS), None, "eval.mt_bench.prompts")
    assert len(questions) == 80 and all(len(q.turns) == 2 for q in questions)
    assert len({q.category for q in questions}) == 8 and questions[0].question_id == 81
    assert any(q.reference(0) for q in questions)  # math, reasoning and coding have reference answers
    assert [q.question_id for q in load_questions(str(QUESTIONS), 3, "eval.mt_bench.prompts")] == [81, 82, 83]


def test_hub_columns_are_read_like_fastchats(tmp_path: Path):
    path = tmp_path / "hub.jsonl"
    path.write_text(json.dumps({"prompt": ["q1", "q2"], "prompt_id": 7, "category": "math", "reference": ["4", ""]})
                    + "\n" + json.dumps({"turns": ["only one"]}) + "\n")
    first, second = load_questions(str(path), None, "eval.mt_bench.prompts")
    assert (first.question_id, first.category, first.turns, first.references) == (7, "math", ("q1", "q2"),
                                                                                  ("4", None))
    assert (second.question_id, second.category, second.turns) == (1, "general", ("only one",))


@pytest.mark.parametrize(
    ("line", "expected"),
    [('{"turns": []}', "has no questions"), ('{"turns": "x"', "is not a JSON object"), ("[1, 2]", "is a JSON list")],
)
def test_a_bad_question_names_the_file_line_and_key(line: str, expected: str, tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"turns": ["fine"]}\n' + line + "\n")
    with pytest.raises(DataError) as caught:
        load_questions(str(path), None, "eval.mt_bench.prompts")
    message = str(caught.value)
    assert expected in message and "eval.mt_bench.prompts" in message
    assert f"{path}:2" in message or f"{path} item 1" in message


def test_every_turn_is_rated_in_its_conversation_and_unrated_ones_are_counted(tmp_path: Path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"question_id": 1, "category": "math", "turns": ["a", "b"], "reference": ["r1", "r2"]})
                    + "\n" + json.dumps({"question_id": 2, "category": "writing", "turns": ["c", "d"]}) + "\n")
    questions = load_questions(str(path), None, "k")
    judge = LengthJudge()
    metrics = mt_bench.judge(questions, [["xx", "xxxx"], ["xxxxxx", "?"]], judge, tmp_path)
    turn2 = judge.requests[1]  # question 1's second turn, asked after its first answer
    assert [(t.question, t.answer, t.reference) for t in turn2.turns] == [("a", "xx", "r1"), ("b", "xxxx", "r2")]
    assert metrics == {"mt_bench_score": 4.0, "mt_bench_turn1": 4.0, "mt_bench_turn2": 4.0, "mt_bench_judged": 3,
                       "mt_bench_unrated": 1}
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["categories"] == {"math": 3.0, "writing": 6.0} and results["unrated"] == 1
    judgments = [json.loads(line) for line in (tmp_path / "judgments.jsonl").read_text().splitlines()]
    assert [(j["question_id"], j["turn"], j["score"]) for j in judgments] == [(1, 1, 2.0), (1, 2, 4.0), (2, 1, 6.0),
                                                                              (2, 2, None)]
    assert judgments[3]["raw"] == "no verdict" and {j["judge"] for j in judgments} == {"length"}


def test_nothing_rated_leaves_the_means_out():
    results = mt_bench.summarize([("math", 1, None), ("math", 2, None)])
    assert mt_bench.metrics(results) == {"mt_bench_judged": 0, "mt_bench_unrated": 2}


def test_answers_are_kept_as_produced_and_a_rerun_answers_only_the_rest(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path):
    from omegaconf import OmegaConf

    from align import generation
    from align.eval.prompts import Question

    asked: list[str] = []

    def fake(model, tokenizer, prompts, max_new_tokens=8, batch_size=64, desc="", **_):
        asked.extend(p[-1]["content"] for p in prompts)
        return [f"answer to {p[-1]['content']}" for p in prompts]

    monkeypatch.setattr(generation, "generate_answers", fake)
    questions = [Question(str(i), "math", (f"q{i}", f"q{i} again"), ()) for i in range(3)]
    settings = OmegaConf.create({"max_new_tokens": 8, "batch_size": 2})
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({"question_id": "1", "turns": ["kept", "kept too"]}) + "\n")  # from a stopped run
    answers = mt_bench.answer(None, None, questions, settings, path)
    assert answers[1] == ["kept", "kept too"] and answers[0] == ["answer to q0", "answer to q0 again"]
    assert "q1" not in asked and len(path.read_text().splitlines()) == 3
    asked.clear()
    assert mt_bench.answer(None, None, questions, settings, path) == answers and asked == []
