"""Win rate: the model's answers against a baseline's on the same prompts (the questions' first turns), each pair
judged twice, the model as A then as B, to cancel the judge's position bias. FastChat's rule combines the two
verdicts: a win when both favour the model, or one does and the other is a tie; a loss likewise; else a tie. A pair
with a verdict the judge could not give is unrated. win_rate = (wins + ties / 2) / judged.

Files in <run dir>/eval/win_rate/: answers.jsonl, baseline_answers.jsonl, judgments.jsonl (both verdicts and the
outcome per prompt), results.json. Metrics: win_rate, win_rate_ties (the fraction of judged pairs that tie), and
the mean answer length in characters of each side (win_rate_answer_length, win_rate_baseline_answer_length).
"""

from __future__ import annotations

from pathlib import Path
from statistics import fmean
from typing import Any

from omegaconf import DictConfig, OmegaConf

from align.eval.judges import Judge, Judgment, PairRequest, Turn
from align.eval.prompts import Question
from align.outputs import write_json, write_jsonl


def answer(model: Any, tokenizer: Any, questions: list[Question], settings: DictConfig, desc: str,
           known: dict[str, str] | None = None) -> list[str]:
    """Greedy answers to the questions' first turns; those in `known` (the same model's greedy answers to the same
    prompts with the same max_new_tokens, e.g. MT-Bench's first turns) are not generated again."""
    from align.generation import answer_conversations

    known = known or {}
    asked = list(dict.fromkeys(q.turns[0] for q in questions if q.turns[0] not in known))
    replies = answer_conversations(model, tokenizer, [[prompt] for prompt in asked], settings.max_new_tokens,
                                   settings.batch_size, desc=desc) if asked else []
    found = {**known, **{prompt: turns[0] for prompt, turns in zip(asked, replies, strict=True)}}
    return [found[q.turns[0]] for q in questions]


def baseline_model(cfg: DictConfig) -> Any:
    """The baseline's model config: eval.win_rate.baseline with the policy's other model settings (its own tokenizer
    and chat template), or the run's starting model as configured."""
    baseline = cfg.eval.win_rate.baseline
    if baseline is None:
        return cfg.model
    return OmegaConf.merge(cfg.model, {"name_or_path": baseline, "tokenizer_name_or_path": None, "gguf_file": None,
                                       "chat_template": None, "build": None})


def baseline_answers(cfg: DictConfig, questions: list[Question], on_cuda: bool) -> list[str]:
    """The baseline loaded, its answers, and its memory freed."""
    import gc

    from align.model.load import load_model, load_tokenizer

    spec = baseline_model(cfg)
    model = load_model(spec, on_cuda).to("cuda" if on_cuda else "cpu")
    try:
        return answer(model, load_tokenizer(spec), questions, cfg.eval.win_rate, "win rate (baseline)")
    finally:
        del model
        gc.collect()


def write_answers(path: Path, questions: list[Question], answers: list[str], model_id: str) -> None:
    write_jsonl(path, [{"question_id": q.question_id, "category": q.category, "model_id": model_id,
                        "prompt": q.turns[0], "answer": a} for q, a in zip(questions, answers, strict=True)])


def outcome(model_as_a: Judgment, model_as_b: Judgment) -> str | None:
    """win, loss or tie for the model from its two verdicts (FastChat's rule), None when either is missing."""
    first = {"A": "model", "B": "baseline", "tie": "tie"}.get(model_as_a.winner or "")
    second = {"B": "model", "A": "baseline", "tie": "tie"}.get(model_as_b.winner or "")
    if first is None or second is None:
        return None
    sides = {first, second}
    if sides <= {"model", "tie"} and "model" in sides:
        return "win"
    if sides <= {"baseline", "tie"} and "baseline" in sides:
        return "loss"
    return "tie"


def judge(questions: list[Question], answers: list[str], baseline: list[str], judge: Judge,
          out_dir: Path) -> dict[str, Any]:
    """Judge each pair in both orders; write judgments.jsonl and results.json; return the metrics."""
    def pair(q: Question, a: str, b: str) -> PairRequest:
        return PairRequest(str(q.question_id), q.category, (Turn(q.turns[0], a, q.reference(0)),),
                           (Turn(q.turns[0], b, q.reference(0)),))

    rows = list(zip(questions, answers, baseline, strict=True))
    verdicts = judge.compare([pair(q, a, b) for q, a, b in rows] + [pair(q, b, a) for q, a, b in rows])
    orders = list(zip(verdicts[: len(rows)], verdicts[len(rows) :], strict=True))
    outcomes = [outcome(first, second) for first, second in orders]
    write_jsonl(out_dir / "judgments.jsonl", [
        {"question_id": q.question_id, "category": q.category, "judge": judge.id, "model_as_a": first.winner,
         "model_as_b": second.winner, "outcome": result, "raw_model_as_a": first.raw, "raw_model_as_b": second.raw}
        for (q, _, _), (first, second), result in zip(rows, orders, outcomes, strict=True)])
    results = summarize(outcomes, answers, baseline)
    write_json(out_dir / "results.json", {**results, "judge": judge.id})
    return metrics(results)


def summarize(outcomes: list[str | None], answers: list[str], baseline: list[str]) -> dict[str, Any]:
    judged = sum(o is not None for o in outcomes)
    wins, losses, ties = (outcomes.count(name) for name in ("win", "loss", "tie"))
    return {
        "win_rate": (wins + 0.5 * ties) / judged if judged else None,
        "wins": wins, "losses": losses, "ties": ties, "judged": judged, "unrated": len(outcomes) - judged,
        "answer_length": fmean(len(a) for a in answers) if answers else 0.0,
        "baseline_answer_length": fmean(len(b) for b in baseline) if baseline else 0.0,
    }


def metrics(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"win_rate_answer_length": results["answer_length"],
                           "win_rate_baseline_answer_length": results["baseline_answer_length"]}
    if results["judged"]:
        out.update(win_rate=results["win_rate"], win_rate_ties=results["ties"] / results["judged"])
    return out
