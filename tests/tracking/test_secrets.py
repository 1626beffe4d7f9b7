"""Secrets (tokens, API keys) are kept out of everything a run writes: configs, run_info.json, sweep files, W&B."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra.types import RunMode
from omegaconf import OmegaConf

from align.tracking import secrets
from tests.tracking.conftest import SECRETS, files_containing


def test_secret_values_are_those_of_token_and_key_variables():
    env = {
        "HF_TOKEN": "hf_abcdefgh12",
        "MY_SERVICE_TOKEN": "tok-12345678",
        "AWS_SECRET_ACCESS_KEY": "aws/xyz12345",
        "WANDB_API_KEY": "k" * 40,
        "SHORT_KEY": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HOME": "/root/home",
    }
    assert set(secrets.secret_values(env)) == {"hf_abcdefgh12", "tok-12345678", "aws/xyz12345", "k" * 40}


def test_the_variable_judge_api_key_env_names_is_a_secret_whatever_its_name(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path):
    from align.run.prepare import check
    from tests.conftest import compose_cfg

    monkeypatch.setattr(secrets, "_NAMED_SECRET_ENVS", set())
    monkeypatch.setenv("MY_JUDGE_CREDENTIAL", "sk-judge-12345678")
    assert "sk-judge-12345678" not in secrets.secret_values()
    (tmp_path / "q.jsonl").write_text('{"question_id": 1, "category": "math", "turns": ["2+2?"]}\n')
    cfg = compose_cfg("eval=mt_bench", "judge=openai", "judge.model=m", "judge.api_key_env=MY_JUDGE_CREDENTIAL",
                      f"eval.mt_bench.prompts={tmp_path / 'q.jsonl'}", "dry_run=true")
    check(cfg)
    assert secrets.scrub_text("key sk-judge-12345678 here") == f"key {secrets.REDACTED} here"


def test_scrub_redacts_values_keys_and_assignments(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefgh12")
    data = {
        "method": {"hub_token": "hf_literal_987", "eos_token": "<|im_end|>", "beta": 0.1, "pad_token": None},
        "tracking": {"api_key": "${oc.env:WANDB_API_KEY}"},
        "command": ["-m", "align", "method.hub_token=hf_cmd_555", "note=uses hf_abcdefgh12 inside"],
    }
    scrubbed = secrets.scrub(OmegaConf.create(data))
    assert scrubbed["method"] == {"hub_token": "<redacted>", "eos_token": "<|im_end|>", "beta": 0.1, "pad_token": None}
    assert scrubbed["tracking"]["api_key"] == "${oc.env:WANDB_API_KEY}"  # says where the secret is, not what
    assert scrubbed["command"] == ["-m", "align", "method.hub_token=<redacted>", "note=uses <redacted> inside"]


def test_multirun_yaml_is_rewritten_only_when_it_holds_a_secret(tmp_path: Path):
    hydra_cfg = SimpleNamespace(mode=RunMode.MULTIRUN, sweep=SimpleNamespace(dir=str(tmp_path)))
    path = tmp_path / "multirun.yaml"
    path.write_text("hydra:\n  overrides:\n    task:\n    - method.beta=0.1,0.5\n    - method.hub_token=hf_cmd_555\n")
    secrets.scrub_sweep_config(hydra_cfg)
    assert "hf_cmd_555" not in path.read_text() and "method.beta=0.1,0.5" in path.read_text()
    before = path.stat().st_mtime_ns
    secrets.scrub_sweep_config(hydra_cfg)
    assert path.stat().st_mtime_ns == before


@pytest.mark.slow
def test_secrets_appear_nowhere_under_the_sweep(tracked_sweep):
    sweep_dir, done = tracked_sweep
    assert done.returncode == 0, done.stderr[-3000:]
    assert files_containing(sweep_dir, list(SECRETS.values())) == {}
    assert not any(value in done.stdout + done.stderr for value in SECRETS.values())
