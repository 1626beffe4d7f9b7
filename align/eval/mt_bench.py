"""MT-Bench: each question's turns answered greedily by the model (turn 2 asked after its own answer to turn 1), then
every turn rated by the judge in its conversation (single-answer grading), into <run dir>/eval/mt_bench/:

    answers.jsonl     one line per question: question_id, category, model_id, turns (the model's answers)
    judgments.jsonl   one line per rated turn: question_id, category, turn, judge, score (null: unrated), raw
    results.json      score (mean over rated turns), turn1, turn2, per-category means, judged and unrated counts

Metrics: mt_bench_score, mt_bench_turn1, mt_bench_turn2, mt_bench_judged, mt_bench_unrated.
"""

from __future__ import annotations

from pathlib import Path
from statistics import mean
from typing import Any

from omegaconf import DictConfig

from align.eval.judges import Judge, RateRequest, Turn
from align.eval.prompts import Question
from align.outputs import write_json, write_jsonl


def answer(model: Any, tokenizer: Any, questions: list[Question], settings: DictConfig,
           answers_path: Path | None = None) -> list[list[str]]:
    """The model's answers to every turn of every question; with `answers_path`, appended there as they are
    produced, and a rerun answers only the questions that file lacks."""
    from align.generation import answer_conversations

    return answer_conversations(model, tokenizer, [list(q.turns) for q in questions], settings.max_new_tokens,
                                settings.batch_size, desc="MT-Bench", answers_path=answers_path,
                                ids=[str(q.question_id) for q in questions])


def write_answers(path: Path, questions: list[Question], answers: list[list[str]], model_id: str) -> None:
    write_jsonl(path, [{"question_id": q.question_id, "category": q.category, "model_id": model_id, "turns": a}
                       for q, a in zip(questions, answers, strict=True)])


def judge(questions: list[Question], answers: list[list[str]], judge: Judge, out_dir: Path) -> dict[str, Any]:
    """Rate every answered turn; write judgments.jsonl and results.json; return the metrics."""
    requests, turn_of = [], []
    for q, own in zip(questions, answers, strict=True):
        pairs = enumerate(zip(q.turns, own, strict=True))
        turns = tuple(Turn(text, reply, q.reference(i)) for i, (text, reply) in pairs)
        for k in range(1, len(turns) + 1):
            requests.append(RateRequest(str(q.question_id), q.category, turns[:k]))
            turn_of.append((q, k))
    judgments = judge.rate(requests)
    write_jsonl(out_dir / "judgments.jsonl", [
        {"question_id": q.question_id, "category": q.category, "turn": k, "judge": judge.id, "score": j.score,
         "raw": j.raw} for (q, k), j in zip(turn_of, judgments, strict=True)])
    results = summarize([(q.category, k, j.score) for (q, k), j in zip(turn_of, judgments, strict=True)])
    write_json(out_dir / "results.json", {**results, "judge": judge.id, "questions": len(questions)})
    return metrics(results)


def summarize(rated: list[tuple[str, int, float | None]]) -> dict[str, Any]:
    """Means over the rated turns (None: unrated, counted apart): overall, per turn, per category."""
    scores = [(category, turn, score) for category, turn, score in rated if score is not None]

    def avg(values: list[float]) -> float | None:
        return mean(values) if values else None

    categories = sorted({category for category, _, _ in rated})
    return {
        "score": avg([s for _, _, s in scores]),
        "turn1": avg([s for _, t, s in scores if t == 1]),
        "turn2": avg([s for _, t, s in scores if t == 2]),
        "categories": {c: avg([s for cat, _, s in scores if cat == c]) for c in categories},
        "judged": len(scores),
        "unrated": len(rated) - len(scores),
    }


def metrics(results: dict[str, Any]) -> dict[str, Any]:
    """metrics.json's headline values; a mean with nothing rated is left out rather than reported as 0."""
    out = {f"mt_bench_{key}": results[key] for key in ("judged", "unrated")}
    for key, name in (("score", "mt_bench_score"), ("turn1", "mt_bench_turn1"), ("turn2", "mt_bench_turn2")):
        if results[key] is not None:
            out[name] = results[key]
    return out
