"""The evaluations chosen with eval=... run on one model, after training (run/train.py) or instead of it
(method=evaluate): what is selected, the questions they ask (loaded by validation), the judge, and the run itself,
which returns the headline metrics for metrics.json and leaves each evaluation's files in <run dir>/eval/<name>/.

Order: every answer first (the model's, then the baseline's, loaded and freed), then the judge, loaded once for
MT-Bench and the win rate, so that no two models beside the policy are in memory at once. Every process
generates (the policy may be sharded); the main process alone judges and writes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

EVALUATIONS = ("exact_match", "mt_bench", "win_rate", "lm_eval")
JUDGED = ("mt_bench", "win_rate")
EVAL_DIR = "eval"


def selected(cfg: DictConfig) -> list[str]:
    """The evaluations chosen with eval=..., in the order they run."""
    return [name for name in EVALUATIONS if cfg.eval.get(name) is not None]


def evaluated_by_method(cfg: DictConfig) -> list[str]:
    """What method=evaluate runs: the selected evaluations, or exact match when none is (every training run
    reports it too)."""
    return selected(cfg) or ["exact_match"]


def judged(cfg: DictConfig) -> list[str]:
    return [name for name in selected(cfg) if name in JUDGED]


def question_sources(cfg: DictConfig) -> dict[str, tuple[str, str]]:
    """(source, the key that names it) of each selected evaluation that asks questions. The win rate's default
    prompts are MT-Bench's: eval.mt_bench.prompts when eval=mt_bench is selected, else its default."""
    from align.config.schema import MTBenchConfig

    sources = {}
    if cfg.eval.mt_bench is not None:
        sources["mt_bench"] = (cfg.eval.mt_bench.prompts, "eval.mt_bench.prompts")
    if cfg.eval.win_rate is not None:
        if cfg.eval.win_rate.prompts is not None:
            sources["win_rate"] = (cfg.eval.win_rate.prompts, "eval.win_rate.prompts")
        else:
            sources["win_rate"] = sources.get("mt_bench", (MTBenchConfig.prompts, "eval.win_rate.prompts"))
    return sources


def load_eval_questions(cfg: DictConfig) -> dict[str, list[Any]]:
    """The questions of each selected evaluation that asks some, each source read once (a DataError, or
    SourceUnreachable for a Hub dataset out of reach, naming the key)."""
    from align.eval.prompts import load_questions

    read: dict[tuple[str, str], list[Any]] = {}
    questions = {}
    for name, (source, key) in question_sources(cfg).items():
        if (source, key) not in read:
            read[(source, key)] = load_questions(source, None, key)
        questions[name] = read[(source, key)][: cfg.eval[name].limit]
    return questions


def run_evaluations(prepared: Any, model: Any, tokenizer: Any, run_dir: Path, saved: tuple[Path, Path],
                    model_id: str, names: list[str] | None = None) -> dict[str, Any]:
    """Run `names` (default: the selected evaluations) on `model`, whose weights and tokenizer are also saved at
    `saved` (lm_eval loads them itself); returns the headline metrics on the main process, and {} on the others,
    which only take part in generating."""
    from align.hardware.devices import is_main_process
    from align.hardware.settings import use_cuda

    cfg, on_cuda, main = prepared.cfg, use_cuda(prepared.hardware), is_main_process()
    names = selected(cfg) if names is None else names
    questions = prepared.eval_questions or {}
    out = run_dir / EVAL_DIR
    metrics: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    if "exact_match" in names:
        from align.eval.exact_match import exact_match_metrics

        metrics.update(exact_match_metrics(model, tokenizer, cfg.data))
    if "mt_bench" in names:
        from align.eval import mt_bench

        answers["mt_bench"] = mt_bench.answer(model, tokenizer, questions["mt_bench"], cfg.eval.mt_bench,
                                              out / "mt_bench" / "answers.jsonl")
        if main:
            mt_bench.write_answers(out / "mt_bench" / "answers.jsonl", questions["mt_bench"], answers["mt_bench"],
                                   model_id)
    if "win_rate" in names:
        from align.eval import win_rate

        prompts = questions["win_rate"]
        answers["win_rate"] = win_rate.answer(model, tokenizer, prompts, cfg.eval.win_rate, "win rate",
                                              _first_turns(cfg, questions, answers))
        answers["baseline"] = win_rate.baseline_answers(cfg, prompts, on_cuda)
        if main:
            win_rate.write_answers(out / "win_rate" / "answers.jsonl", prompts, answers["win_rate"], model_id)
            win_rate.write_answers(out / "win_rate" / "baseline_answers.jsonl", prompts, answers["baseline"],
                                   baseline_id(cfg))
    if "lm_eval" in names and main:
        metrics.update(_lm_eval(cfg, saved, out / "lm_eval", on_cuda))
    if not main or not any(name in JUDGED for name in names):
        return metrics if main else {}
    judge = make_judge(cfg, on_cuda)
    if "mt_bench" in names:
        from align.eval import mt_bench

        metrics.update(mt_bench.judge(questions["mt_bench"], answers["mt_bench"], judge, out / "mt_bench"))
    if "win_rate" in names:
        from align.eval import win_rate

        metrics.update(win_rate.judge(questions["win_rate"], answers["win_rate"], answers["baseline"], judge,
                                      out / "win_rate"))
    log.info("evaluations %s in %s: %s", ", ".join(names), out, metrics)
    return metrics


def _first_turns(cfg: DictConfig, questions: dict[str, Any], answers: dict[str, Any]) -> dict[str, str]:
    """MT-Bench's first-turn answers by prompt, when the win rate asks for answers of the same length."""
    if "mt_bench" not in answers or cfg.eval.mt_bench.max_new_tokens != cfg.eval.win_rate.max_new_tokens:
        return {}
    return {q.turns[0]: turns[0] for q, turns in zip(questions["mt_bench"], answers["mt_bench"], strict=True)}


def make_judge(cfg: DictConfig, on_cuda: bool) -> Any:
    """The judge of judge=... (reward_model loads its model on the run's device; openai caches its verdicts in
    align's cache)."""
    from align.config.schema import RewardModelJudgeConfig

    if OmegaConf.get_type(cfg.judge) is RewardModelJudgeConfig:
        from align.eval.judges.reward_model import RewardModelJudge

        return RewardModelJudge(cfg.judge, on_cuda)
    from align.eval.judges.openai import OpenAIJudge
    from align.paths import cache_dir

    return OpenAIJudge(cfg.judge, cache_dir() / "judgments")


def _lm_eval(cfg: DictConfig, saved: tuple[Path, Path], out_dir: Path, on_cuda: bool) -> dict[str, float]:
    from align.eval.lm_eval import run_lm_eval

    return run_lm_eval(saved[0], saved[1], cfg.eval.lm_eval, out_dir, on_cuda)


def baseline_id(cfg: DictConfig) -> str:
    """How answers.jsonl names the win rate's baseline."""
    return cfg.eval.win_rate.baseline or model_name(cfg.model)


def model_name(model: DictConfig) -> str:
    """A model's name for answer files and the plan: its path or Hub id, or the built-in model's name."""
    return model.name_or_path or f"{model.name} (built in)"


def plan_lines(prepared: Any, names: list[str]) -> list[str]:
    """The dry run's lines: each evaluation of `names` with its questions, and the judge."""
    from align.plan.describe import line

    cfg = prepared.cfg
    questions = prepared.eval_questions
    lines = []
    for name in names:
        settings = cfg.eval[name]
        if name in question_sources(cfg):
            source = question_sources(cfg)[name][0]
            count = f"{len(questions[name])} questions" if questions is not None else "questions"
            what = f"{count} from {source}, at most {settings.max_new_tokens} new tokens"
            if name == "win_rate":
                what += f", against {baseline_id(cfg)}, both orders"
        elif name == "lm_eval":
            what = f"tasks {', '.join(settings.tasks)}" + (f", limit {settings.limit}" if settings.limit else "")
        else:
            what = f"{cfg.data.get('num_exact_match', 0)} held-out prompts of data={cfg.data.name}"
        lines.append(line(f"eval {name}", what))
    if questions is None and prepared.eval_problem:
        lines.append(line("eval questions", f"not loaded: {prepared.eval_problem}"))
    if judged(cfg):
        lines.append(line("judge", judge_description(cfg.judge)))
    return lines


def judge_description(judge: DictConfig) -> str:
    if "base_url" not in judge:
        return f"reward model {judge.model} (its scalar; higher wins)"
    return f"{judge.model} at {judge.base_url} (key from ${judge.api_key_env}, {judge.concurrency} at a time)"
