"""The eval and judge config groups: one or several evaluations, their keys on the command line, misspelt keys,
and validation that names the key for every mistake before any model loads (exit 2, in seconds)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from align.errors import ConfigError
from align.eval.run import selected
from tests.conftest import compose_cfg, compose_valid_cfg, prepared, run_align
from tests.eval.conftest import QUESTIONS


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text('{"question_id": 1, "category": "math", "turns": ["What is 2 + 2?", "And 3 + 3?"]}\n'
                    '{"question_id": 2, "category": "writing", "turns": ["Write a haiku.", "Another one."]}\n')
    return path


@pytest.fixture
def judge_dir(tmp_path: Path) -> Path:
    """A directory that passes for a model directory (validation reads no weights)."""
    path = tmp_path / "rm"
    path.mkdir()
    (path / "config.json").write_text("{}")
    return path


def test_nothing_is_evaluated_or_judged_by_default():
    cfg = compose_cfg()
    assert selected(cfg) == [] and cfg.judge is None


def test_one_or_several_evaluations_with_their_keys(questions: Path, judge_dir: Path):
    one = compose_cfg("eval=mt_bench", "eval.mt_bench.limit=3")
    assert selected(one) == ["mt_bench"] and one.eval.mt_bench.limit == 3
    assert one.eval.mt_bench.prompts == "HuggingFaceH4/mt_bench_prompts"
    several = compose_valid_cfg("eval=[win_rate,mt_bench]", f"eval.mt_bench.prompts={questions}",
                                "judge=reward_model", f"judge.model={judge_dir}", "eval.win_rate.max_new_tokens=7")
    assert selected(several) == ["mt_bench", "win_rate"]  # the order they run in, not the order given
    assert several.eval.win_rate.max_new_tokens == 7 and several.eval.win_rate.baseline is None
    assert several.judge.model == str(judge_dir) and several.judge.batch_size == 16


def test_openai_judge_keys_and_defaults():
    cfg = compose_cfg("judge=openai", "judge.model=gpt-4o", "judge.concurrency=2")
    assert cfg.judge.api_key_env == "OPENAI_API_KEY" and cfg.judge.concurrency == 2
    assert (cfg.judge.max_retries, cfg.judge.timeout_s, cfg.judge.max_tokens, cfg.judge.temperature) == (5, 60, 1024,
                                                                                                          0.0)
    lm = compose_cfg("eval=lm_eval", "eval.lm_eval.tasks=[arc_easy]", "eval.lm_eval.limit=10")
    assert list(lm.eval.lm_eval.tasks) == ["arc_easy"] and lm.eval.lm_eval.limit == 10


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["eval=mt_bench", "eval.mt_bench.limt=3"], "eval.mt_bench.limit"),  # misspelt: the closest key
        (["eval.mt_bench.limit=3"], "eval=mt_bench is not selected"),
        (["judge.model=x"], "no judge is chosen"),
        (["eval=mt_bench", "+eval.mt_bench.temperature=0.7"], "eval.mt_bench.temperature"),
    ],
)
def test_composition_mistakes_name_the_key(overrides: list[str], named: str):
    out = run_align(*overrides, "dry_run=true")
    assert out.returncode == 2 and named in out.stderr, out.stderr


def _error(*overrides: str) -> str:
    with pytest.raises(ConfigError) as caught:
        compose_valid_cfg(*overrides)
    return str(caught.value)


def test_an_evaluation_with_a_judge_needs_one(questions: Path):
    message = _error("eval=mt_bench", f"eval.mt_bench.prompts={questions}")
    assert "eval=mt_bench needs a judge: judge=reward_model judge.model=" in message and "judge=openai" in message
    assert "eval=[mt_bench,win_rate] needs a judge" in _error("eval=[mt_bench,win_rate]",
                                                              f"eval.mt_bench.prompts={questions}")
    assert selected(compose_valid_cfg("eval=exact_match")) == ["exact_match"]  # no judge needed


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["eval.mt_bench.prompts=/nonexistent/questions.jsonl"], "eval.mt_bench.prompts"),
        (["eval.mt_bench.max_new_tokens=0"], "eval.mt_bench.max_new_tokens"),
        (["eval.mt_bench.limit=0"], "eval.mt_bench.limit"),
        (["judge.model=/nonexistent/rm"], "judge.model"),
        (["judge.model=null"], "judge.model"),
        (["judge.batch_size=0"], "judge.batch_size"),
    ],
)
def test_bad_mt_bench_or_judge_values_name_the_key(overrides: list[str], key: str, questions: Path, judge_dir: Path):
    base = ["eval=mt_bench", f"eval.mt_bench.prompts={questions}", "judge=reward_model", f"judge.model={judge_dir}"]
    assert f"Invalid value for {key}:" in _error(*base, *overrides)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["judge.model=null"], "judge.model"),
        (["judge.base_url=localhost:8000"], "judge.base_url"),
        (["judge.concurrency=0"], "judge.concurrency"),
        (["judge.timeout_s=-1"], "judge.timeout_s"),
        (["judge.temperature=-0.5"], "judge.temperature"),
    ],
)
def test_bad_openai_judge_values_name_the_key(overrides: list[str], key: str, questions: Path):
    base = ["eval=mt_bench", f"eval.mt_bench.prompts={questions}", "judge=openai", "judge.model=gpt-4o"]
    assert f"Invalid value for {key}:" in _error(*base, *overrides)


def test_win_rate_baseline_rules(questions: Path, judge_dir: Path):
    base = ["eval=win_rate", f"eval.win_rate.prompts={questions}", "judge=reward_model", f"judge.model={judge_dir}"]
    compose_valid_cfg(*base)  # after training: the starting model is the baseline
    message = _error(*base, "method=evaluate", f"model.name_or_path={judge_dir}")
    assert message.startswith("Invalid value for eval.win_rate.baseline: null") and "method=evaluate" in message
    assert "eval.win_rate.baseline" in _error(*base, "eval.win_rate.baseline=/nonexistent/model")
    assert "eval.win_rate.prompts" in _error("eval=win_rate", "eval.win_rate.prompts=./missing.jsonl", "judge=openai",
                                             "judge.model=m")


def test_lm_eval_values(tmp_path: Path):
    assert "eval.lm_eval.tasks" in _error("eval=lm_eval")
    assert "eval.lm_eval.include_path" in _error("eval=lm_eval", "eval.lm_eval.tasks=[t]",
                                                 f"eval.lm_eval.include_path={tmp_path / 'none'}")
    assert "eval.lm_eval.batch_size" in _error("eval=lm_eval", "eval.lm_eval.tasks=[t]", "eval.lm_eval.batch_size=big")


def test_methods_that_cannot_run_evaluations_are_refused(questions: Path, judge_dir: Path):
    judged = ["eval=mt_bench", f"eval.mt_bench.prompts={questions}", "judge=reward_model", f"judge.model={judge_dir}"]
    assert "reward model" in _error("method=reward", *judged)
    assert "method=evaluate" in _error("method=rejection_sampling", *judged)
    assert "has none" in _error("method=evaluate", "data=file", f"data.path={questions}")


def test_method_evaluate_defaults_to_exact_match_and_loads_no_data(tmp_path: Path):
    from align.eval.run import evaluated_by_method

    cfg = compose_valid_cfg("method=evaluate")
    assert evaluated_by_method(cfg) == ["exact_match"]
    ready = prepared("method=evaluate", "dry_run=true", run_dir=tmp_path / "run")
    assert ready.data is None and ready.method.data_kind == "none"


@pytest.mark.skipif(not QUESTIONS.is_file(), reason=f"the shared MT-Bench questions {QUESTIONS} are absent")
def test_dry_run_lists_the_evaluations_and_the_judge(judge_dir: Path, tmp_path: Path):
    from align.plan.describe import describe

    overrides = ("eval=[mt_bench,win_rate]", f"eval.mt_bench.prompts={QUESTIONS}", "eval.win_rate.limit=5",
                 "judge=reward_model", f"judge.model={judge_dir}", "dry_run=true")
    plan = _lines(describe(prepared(*overrides, run_dir=tmp_path / "run"), tmp_path / "run"))
    assert plan["eval mt_bench"].startswith(f"80 questions from {QUESTIONS}, at most 1024 new tokens")
    assert plan["eval win_rate"].startswith("5 questions") and "against tiny (built in), both orders" in plan[
        "eval win_rate"]
    assert plan["judge"].startswith(f"reward model {judge_dir}")
    evaluate = _lines(describe(prepared("method=evaluate", "dry_run=true", run_dir=tmp_path / "run"), tmp_path / "run"))
    assert evaluate["training"].startswith("none") and "eval exact_match" in evaluate and "judge" not in evaluate


def _lines(plan: str) -> dict[str, str]:
    """The plan's `label: value` lines by label."""
    pairs = (line.strip().split(":", 1) for line in plan.splitlines() if line.startswith("  ") and ":" in line)
    return {label: value.strip() for label, value in pairs}


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["eval=mt_bench", "eval.mt_bench.prompts=/nonexistent/q.jsonl", "judge=reward_model", "judge.model=a/b"],
         "eval.mt_bench.prompts"),
        (["eval=mt_bench", "judge=reward_model", "judge.model=/nonexistent/rm"], "judge.model"),
        (["eval=mt_bench"], "needs a judge"),
        (["method=dpo", "eval=mt_bench", "judge=openai", "judge.model=m", "judge.base_url=http://127.0.0.1:9/v1"],
         "judge.base_url"),
    ],
)
def test_cli_refuses_before_any_model_loads(overrides: list[str], key: str, tmp_path: Path):
    started = time.monotonic()
    out = run_align(*overrides, f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and key in out.stderr, out.stderr
    assert time.monotonic() - started < 60 and not (tmp_path / "run").exists()
