"""Training on the embedded default: SFT learns, DPO from its output moves the margin, the run dir contract holds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import run_align

METRIC_KEYS = {"train_loss", "eval_loss", "eval_exact_match", "eval_exact_match_extracted", "runtime_s", "world_size",
               "method"}


def losses(run_dir: Path) -> list[float]:
    history = json.loads((run_dir / "log_history.json").read_text())
    return [entry["loss"] for entry in history if "loss" in entry]


@pytest.fixture
def sft_run(default_sft_run: Path) -> Path:
    return default_sft_run


def test_sft_loss_falls(sft_run: Path):
    curve = losses(sft_run)
    assert len(curve) >= 10
    assert sum(curve[-3:]) / 3 < 0.7 * sum(curve[:3]) / 3


def test_run_directory_contract(sft_run: Path):
    metrics = json.loads((sft_run / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics)
    assert metrics["method"] == "sft" and metrics["world_size"] == 1
    assert 0.0 <= metrics["eval_exact_match"] <= metrics["eval_exact_match_extracted"] <= 1.0
    assert math.isfinite(metrics["train_loss"])
    assert (sft_run / ".hydra" / "config.yaml").is_file() and (sft_run / ".hydra" / "overrides.yaml").is_file()
    info = json.loads((sft_run / "run_info.json").read_text())
    assert info["seed"] == 42 and "trl" in info["versions"]
    assert not [p.name for p in sft_run.iterdir() if p.name.startswith(".model")]


def test_saved_model_loads_with_auto_classes(sft_run: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(sft_run / "model")
    tokenizer = AutoTokenizer.from_pretrained(sft_run / "model")
    assert model.config.model_type == "llama"
    assert tokenizer.apply_chat_template([{"role": "user", "content": "What is 1 + 1?"}], tokenize=False)


def test_dpo_from_sft_output_prefers_chosen(sft_run: Path, tmp_path: Path):
    run_dir = tmp_path / "dpo"
    out = run_align(
        "method=dpo", f"model.name_or_path={sft_run / 'model'}", f"hydra.run.dir={run_dir}",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["method"] == "dpo"
    assert metrics["eval_rewards/margins"] > 0
    assert metrics["eval_loss"] < math.log(2)  # DPO starts at ln 2 when policy == reference
    assert (run_dir / "model" / "config.json").is_file()


def test_dry_run_prints_a_plan_and_writes_nothing(tmp_path: Path):
    run_dir = tmp_path / "run"
    out = run_align("dry_run=true", "method=dpo", f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-2000:]
    for needle in ("parameters:", "effective batch size:", "optimizer steps:", "tokens per row"):
        assert needle in out.stdout
    assert not run_dir.exists()
