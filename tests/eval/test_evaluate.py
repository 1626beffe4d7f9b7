"""Evaluations end to end on the tiny model: after a DPO run (eval=[mt_bench,win_rate] against its starting SFT
model) and with method=evaluate (no training), judged by a reward model trained on the embedded default or by an
LLM behind `transformers serve`; a local lm-evaluation-harness task; and their metrics in TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, run_align
from tests.eval.conftest import QUESTIONS, Served

_NEEDS_QUESTIONS = pytest.mark.skipif(not QUESTIONS.is_file(),
                                reason=f"the shared MT-Bench questions {QUESTIONS} are absent")


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _judged(reward_run: Path, *extra: str) -> tuple[str, ...]:
    return ("judge=reward_model", f"judge.model={reward_run / 'model'}", f"eval.mt_bench.prompts={QUESTIONS}",
            "eval.mt_bench.max_new_tokens=8", "eval.win_rate.max_new_tokens=8", *extra)


@_NEEDS_QUESTIONS
@pytest.mark.slow
def test_dpo_then_mt_bench_and_win_rate_against_the_starting_model(default_sft_run: Path, reward_run: Path,
                                                                    tmp_path: Path):
    run_dir = tmp_path / "run"
    out = run_align("method=dpo", f"model.name_or_path={default_sft_run / 'model'}", "method.max_steps=4",
                    "eval=[mt_bench,win_rate]", *_judged(reward_run), f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    answers = _jsonl(run_dir / "eval" / "mt_bench" / "answers.jsonl")
    assert len(answers) == 80 and all(len(a["turns"]) == 2 for a in answers)
    assert answers[0]["question_id"] == 81 and answers[0]["model_id"] == str(run_dir / "model")
    judgments = _jsonl(run_dir / "eval" / "mt_bench" / "judgments.jsonl")
    assert len(judgments) == 160 and all(isinstance(j["score"], float) for j in judgments)
    results = json.loads((run_dir / "eval" / "mt_bench" / "results.json").read_text())
    assert results["judged"] == 160 and results["unrated"] == 0 and len(results["categories"]) == 8
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["mt_bench_score"] == pytest.approx(results["score"])
    assert metrics["mt_bench_score"] == pytest.approx((metrics["mt_bench_turn1"] + metrics["mt_bench_turn2"]) / 2)
    assert 0 <= metrics["win_rate"] <= 1 and 0 <= metrics["win_rate_ties"] <= 1
    baseline = _jsonl(run_dir / "eval" / "win_rate" / "baseline_answers.jsonl")
    assert len(baseline) == 80 and baseline[0]["model_id"] == str(default_sft_run / "model")
    pairs = _jsonl(run_dir / "eval" / "win_rate" / "judgments.jsonl")
    assert len(pairs) == 80 and {p["outcome"] for p in pairs} <= {"win", "loss", "tie"}
    assert metrics["win_rate_answer_length"] > 0 and "train_loss" in metrics  # trained, then evaluated


@_NEEDS_QUESTIONS
@pytest.mark.slow
def test_method_evaluate_trains_nothing_and_a_model_ties_with_itself(default_sft_run: Path, reward_run: Path,
                                                                      tmp_path: Path):
    run_dir, model = tmp_path / "run", default_sft_run / "model"
    out = run_align("method=evaluate", f"model.name_or_path={model}", "eval=[mt_bench,win_rate]",
                    *_judged(reward_run, "eval.mt_bench.limit=6", f"eval.win_rate.baseline={model}"),
                    f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "model").exists()
    answers = _jsonl(run_dir / "eval" / "mt_bench" / "answers.jsonl")
    assert len(answers) == 6 and all(len(a["turns"]) == 2 for a in answers)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["method"] == "evaluate" and metrics["mt_bench_judged"] == 12 and "mt_bench_score" in metrics
    # greedy answers of the same model on the same prompts: the reward model scores both sides alike
    assert metrics["win_rate"] == 0.5 and metrics["win_rate_ties"] == 1.0
    assert metrics["win_rate_answer_length"] == metrics["win_rate_baseline_answer_length"]
    assert "train_loss" not in metrics


@_NEEDS_QUESTIONS
@pytest.mark.slow
def test_method_evaluate_judged_by_an_llm_behind_transformers_serve(default_sft_run: Path, served_tiny_model: Served,
                                                                     tmp_path: Path):
    run_dir, before = tmp_path / "run", served_tiny_model.chat_requests()
    out = run_align("method=evaluate", f"model.name_or_path={default_sft_run / 'model'}", "eval=mt_bench",
                    f"eval.mt_bench.prompts={QUESTIONS}", "eval.mt_bench.limit=2", "eval.mt_bench.max_new_tokens=8",
                    "judge=openai", f"judge.base_url={served_tiny_model.base_url}",
                    f"judge.model={served_tiny_model.model}", "judge.max_tokens=16", f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    judgments = _jsonl(run_dir / "eval" / "mt_bench" / "judgments.jsonl")
    assert len(judgments) == 4  # 2 questions x 2 turns, each rated or counted unrated with the judge's reply
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["mt_bench_judged"] + metrics["mt_bench_unrated"] == 4
    assert served_tiny_model.chat_requests() - before == 4  # every verdict asked of the server, once


@pytest.mark.slow
def test_method_evaluate_runs_a_local_lm_eval_task(default_sft_run: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    out = run_align("method=evaluate", f"model.name_or_path={default_sft_run / 'model'}", "eval=lm_eval",
                    f"eval.lm_eval.include_path={REPO / 'tests' / 'eval' / 'lm_tasks'}",
                    "eval.lm_eval.tasks=[align_arithmetic]", "eval.lm_eval.limit=4", f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0 <= metrics["lm_eval/align_arithmetic/acc"] <= 1
    assert (run_dir / "eval" / "lm_eval" / "results.json").is_file()


@pytest.mark.slow
def test_the_reward_model_judge_rates_by_its_scalar_and_prefers_the_higher(reward_run: Path):
    from omegaconf import OmegaConf

    from align.eval.judges import PairRequest, RateRequest, Turn
    from align.eval.judges.reward_model import RewardModelJudge
    from align.generation import reward_scores

    judge = RewardModelJudge(OmegaConf.create({"model": str(reward_run / "model"), "batch_size": 4}), on_cuda=False)
    assert judge.id == f"reward_model:{reward_run / 'model'}"
    right, wrong = (Turn("What is 2 + 3?", "5"),), (Turn("What is 2 + 3?", "97"),)
    two_turns = (Turn("What is 2 + 3?", "5"), Turn("And 4 + 4?", "8"))
    rated = judge.rate([RateRequest("1", "math", right), RateRequest("1", "math", two_turns)])
    expected = reward_scores(judge.model, judge.tokenizer, [
        [{"role": "user", "content": "What is 2 + 3?"}],
        [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "5"},
         {"role": "user", "content": "And 4 + 4?"}]], ["5", "8"])
    assert [r.score for r in rated] == pytest.approx(expected)
    pairs = [PairRequest("1", "math", right, wrong), PairRequest("1", "math", wrong, right),
             PairRequest("1", "math", right, right)]
    first, swapped, same = judge.compare(pairs)
    assert {first.winner, swapped.winner} == {"A", "B"} and first.winner != swapped.winner and same.winner == "tie"


def test_evaluation_metrics_reach_tensorboard_at_the_last_step(tmp_path: Path):
    from omegaconf import OmegaConf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from align import tracking

    cfg = OmegaConf.create({"tracking": {"backends": ["tensorboard"]}})
    tracking.log_metrics(cfg, tmp_path, {"mt_bench_score": 0.25, "win_rate": 0.5, "judge": "rm", "flag": True}, 12)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == ["eval/mt_bench_score", "eval/win_rate"]
    (point,) = events.Scalars("eval/win_rate")
    assert (point.step, point.value) == (12, 0.5)
