"""The online methods on the embedded default, from the SFT model: GRPO, RLOO and online DPO train, log their
rewards and save; GRPO's exact_match reward rises; a user's function and a reward model serve as rewards; a tracked,
evaluated GRPO sweep is grouped in W&B and reported."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import cli_env, run_align
from tests.methods.conftest import train, write_jsonl
from tests.sweep.test_report import align_report
from tests.tracking.conftest import offline_runs

SHORT = ("method.max_steps=6", "method.logging_steps=1", "data.num_exact_match=16")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["grpo", "rloo", "online_dpo"])
def test_each_online_method_trains_from_the_sft_model(method: str, default_sft_run: Path, tmp_path: Path):
    metrics = train(tmp_path / "run", f"method={method}", f"model.name_or_path={default_sft_run / 'model'}", *SHORT)
    assert metrics["method"] == method and metrics["train_steps"] == 6
    assert {"train_reward_start", "train_reward_end", "eval_exact_match"} <= set(metrics)
    history = json.loads((tmp_path / "run" / "log_history.json").read_text())
    logged = {key for entry in history for key in entry}
    assert "reward" in logged or "objective/scores" in logged


USER_REWARD = '''
import json, os

def short_answer(completions, **columns):
    with open(os.environ["REWARD_CALLS"], "a") as log:
        log.write(json.dumps({"n": len(completions), "columns": sorted(columns),
                              "reference": columns["reference"][0], "completion": completions[0]}) + "\\n")
    return [-len(c[-1]["content"]) / 10 for c in completions]
'''


@pytest.mark.slow
def test_a_users_function_gets_the_completions_and_the_rows_columns(default_sft_run: Path, tmp_path: Path):
    (tmp_path / "myrewards.py").write_text(USER_REWARD)
    calls = tmp_path / "calls.jsonl"
    env = cli_env(REWARD_CALLS=str(calls))
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    out = run_align("method=grpo", f"model.name_or_path={default_sft_run / 'model'}", "method.max_steps=2",
                    "method.logging_steps=1", "method.reward_funcs=[exact_match,myrewards:short_answer]",
                    "method.reward_weights=[1.0,0.5]",
                    "data.num_exact_match=0", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    first = json.loads(calls.read_text().splitlines()[0])
    assert first["n"] == 32 and "reference" in first["columns"] and "trainer_state" in first["columns"]
    assert first["reference"].lstrip("-").isdigit() and first["completion"][0]["role"] == "assistant"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "train_rewards/short_answer/mean" in metrics and "train_rewards/exact_match/mean" in metrics


@pytest.mark.slow
def test_a_reward_model_scores_the_completions(reward_run: Path, default_sft_run: Path, tmp_path: Path):
    metrics = train(tmp_path / "run", "method=grpo", f"model.name_or_path={default_sft_run / 'model'}",
                    f"method.reward_funcs=[{reward_run / 'model'}]", "method.max_steps=2", "method.logging_steps=1",
                    "data.num_exact_match=0")
    assert metrics["train_steps"] == 2 and "train_rewards/model/mean" in metrics


@pytest.mark.slow
def test_grpo_raises_the_exact_match_reward_on_problems_the_sft_model_has_seen(default_sft_run: Path,
                                                                                tmp_path: Path):
    """Eight of the SFT stage's problems as prompt/completion rows (a user's file): the SFT model samples their
    answers right a few times in ten, and GRPO with exact_match makes it answer them right."""
    from omegaconf import OmegaConf

    from align.data.arithmetic import split_problems

    seen, _ = split_problems(OmegaConf.load(default_sft_run / ".hydra" / "config.yaml").data)
    rows = [{"prompt": [{"role": "user", "content": q}], "completion": [{"role": "assistant", "content": a}]}
            for q, a in seen[:8]]
    data = write_jsonl(tmp_path / "seen.jsonl", rows)
    metrics = train(tmp_path / "run", "method=grpo", f"model.name_or_path={default_sft_run / 'model'}", "data=file",
                    f"data.path={data}", "data.test_split_size=0", "method.max_steps=120", "method.logging_steps=10")
    assert metrics["train_reward_start"] < 0.3, metrics
    assert metrics["train_reward_end"] > metrics["train_reward_start"] + 0.2, metrics


@pytest.mark.slow
def test_a_tracked_grpo_sweep_evaluates_logs_rewards_and_reports(default_sft_run: Path, tmp_path: Path):
    """`-m method.beta=0,0.04` on the pool launcher with W&B and eval=exact_match: each job logs its reward, reward
    std, completion length (and KL where beta > 0) per step, W&B groups the jobs, and the report ranks them."""
    sweep = tmp_path / "S"
    out = run_align("-m", "method=grpo", "method.beta=0.0,0.04", f"model.name_or_path={default_sft_run / 'model'}",
                    "method.max_steps=3", "method.logging_steps=1", "eval=exact_match", "data.num_exact_match=8",
                    "tracking=wandb", f"hydra.sweep.dir={sweep}", cwd=tmp_path, env=cli_env(WANDB_MODE="offline"))
    assert out.returncode == 0, out.stderr[-3000:]
    runs = offline_runs(sweep)
    assert sorted(run.name for run in runs) == ["grpo-beta=0.0", "grpo-beta=0.04"] and {r.group for r in runs} == {"S"}
    jobs = {json.loads(path.read_text())["wandb"]["id"]: path.parent for path in sweep.glob("*/tracking.json")}
    for run in runs:
        beta, job = run.config["method"]["beta"], jobs[run.id]
        metrics = json.loads((job / "metrics.json").read_text())
        assert "eval_exact_match" in metrics and "train_reward_end" in metrics
        steps = [entry for entry in json.loads((job / "log_history.json").read_text()) if "reward" in entry]
        assert len(steps) == 3
        expected = {"reward", "reward_std", "completions/mean_length"} | ({"kl"} if beta > 0 else set())
        assert expected <= set(steps[-1]), sorted(steps[-1])
        assert run.summary["train/reward"] == pytest.approx(steps[-1]["reward"])
        assert run.summary["eval_exact_match"] == pytest.approx(metrics["eval_exact_match"])
    reported = align_report(str(sweep))
    assert reported.returncode == 0, reported.stderr
    assert "eval_exact_match" in (sweep / "report.md").read_text()
