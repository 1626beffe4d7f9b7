"""Ranking: the default metric and its direction, the order (best first, jobs without the metric last),
the best job of each method, and the errors for a sweep with nothing to rank."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from align.sweep.rank import best_per_method, choose_metric, headline_metrics, lower_is_better, ranked
from align.sweep.read import Job, ReportError, Sweep, load_sweep
from tests.sweep.conftest import make_job, metrics


def sweep_of(*jobs: Job) -> Sweep:
    return Sweep(Path("S"), list(jobs), ["method.beta"])


def done(name: str, method: str, **values: float) -> Job:
    return Job(name, "done", {"method.beta": name}, {"method": method, **values}, method)


def test_reward_accuracy_is_the_default_metric(partial_sweep: Path):
    assert choose_metric(load_sweep(partial_sweep), None) == "eval_rewards/accuracies"


def test_eval_loss_is_the_default_without_reward_accuracy(tmp_path: Path):
    make_job(tmp_path, ["method.learning_rate=1e-4"], {"method": "sft", "eval_loss": 1.2, "train_loss": 1.5})
    assert choose_metric(load_sweep(tmp_path), None) == "eval_loss"


@pytest.mark.parametrize(
    ("metric", "lower"),
    [("eval_loss", True), ("train_runtime", True), ("step_s", True), ("eval_rewards/accuracies", False)],
)
def test_losses_and_times_rank_lowest_first(metric: str, lower: bool):
    assert lower_is_better(metric) is lower


def test_ranked_best_first_without_the_metric_last():
    jobs = [done("a", "dpo", eval_loss=0.7), done("b", "dpo"), done("c", "ipo", eval_loss=math.nan)]
    jobs += [done("d", "ipo", eval_loss=0.3), Job("e", "failed", method="dpo")]
    sweep = sweep_of(*jobs)
    assert [job.name for job in ranked(sweep, "eval_loss", minimize=True)][:2] == ["d", "a"]
    assert {job.name for job in ranked(sweep, "eval_loss", minimize=True)[2:]} == {"b", "c"}
    assert [job.name for job in ranked(sweep, "eval_loss", minimize=False)][:2] == ["a", "d"]
    assert best_per_method(ranked(sweep, "eval_loss", minimize=True), "eval_loss") == {"d", "a"}


def test_headline_metrics_follow_the_chosen_one_evaluations_first():
    sweep = sweep_of(done("a", "dpo", eval_loss=0.7, train_loss=0.9, eval_exact_match=0.2, other=1.0))
    assert headline_metrics(sweep, "other") == ["other", "eval_exact_match", "eval_loss", "train_loss"]
    assert headline_metrics(sweep, "train_loss") == ["train_loss", "eval_exact_match", "eval_loss"]
    evaluated = {"win_rate": 0.6, "mt_bench_turn1": 5.0, "lm_eval/gsm8k/acc": 0.3, "lm_eval/gsm8k/acc_stderr": 0.1}
    sweep = sweep_of(done("a", "dpo", eval_loss=0.7, **evaluated))
    assert headline_metrics(sweep, "eval_loss") == ["eval_loss", "win_rate", "lm_eval/gsm8k/acc"]


def test_an_unknown_metric_names_the_close_and_the_available_ones(tmp_path: Path):
    make_job(tmp_path, ["method.beta=0.1"], metrics("dpo", 0.5, 0.7))
    with pytest.raises(ReportError) as error:
        choose_metric(load_sweep(tmp_path), "eval_accuracy")
    assert str(error.value) == (
        f"Unknown metric 'eval_accuracy': no finished job in {str(tmp_path)!r} reports it. "
        "Did you mean eval_rewards/accuracies? Available metrics: eval_loss, eval_rewards/accuracies, train_loss."
    )


def test_nothing_finished_lists_why(tmp_path: Path):
    make_job(tmp_path, ["method.beta=0.1"], stderr="align: error: boom\n")
    with pytest.raises(ReportError, match=r"None of the 1 job\(s\) .* method.beta=0.1: align: error: boom"):
        choose_metric(load_sweep(tmp_path), None)
