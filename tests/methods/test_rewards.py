"""The online methods' reward functions (align/methods/rewards.py): the built-ins score as they say, a user's
function and a reward model are accepted, and every bad entry is one paragraph naming its key before any model
loads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from datasets import Dataset

from align.config.checks import PROSE_CHOICES
from align.config.trl_fields import trl_fields
from align.errors import ConfigError, DataError
from align.methods import rewards
from tests.conftest import cli_env, compose_cfg, compose_valid_cfg, prepared, run_align


def method(*overrides: str):
    return compose_valid_cfg("method=grpo", *overrides).method


def test_exact_match_reads_the_answer_of_a_chat_completion():
    completions = [[{"role": "assistant", "content": text}] for text in ("42", "23 + 19 = 42.", "41", "forty-two")]
    assert rewards.exact_match(completions, reference=["42"] * 4) == [1.0, 1.0, 0.0, 0.0]
    assert rewards.exact_match(["7"], reference=[None]) == [None]  # no reference: no verdict, TRL skips it


def test_format_and_length_rewards():
    funcs = dict(zip(("format", "length"), rewards.reward_funcs(method("method.reward_funcs=[format,length]",
                                                                        "method.length_target=2")), strict=True))
    assert funcs["format"](["12", " -3 ", "12 apples"]) == [1.0, 1.0, 0.0]
    assert funcs["length"](["a", "b"], completion_ids=[[1, 2], [1, 2, 3, 4]]) == [0.0, -1.0]
    assert [f.__name__ for f in funcs.values()] == ["format", "length"]  # TRL logs rewards/<name>/mean


def test_a_users_function_and_a_reward_model_are_passed_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "myrewards.py").write_text("def short_answer(completions, **columns):\n"
                                           "    return [-len(str(c)) for c in completions]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = tmp_path / "rm"
    model.mkdir()
    (model / "config.json").write_text("{}")
    funcs = rewards.reward_funcs(method(f"method.reward_funcs=[myrewards:short_answer,{model}]"))
    assert funcs[0](["ab", "abcd"]) == [-2, -4] and funcs[1] == str(model)
    sys.modules.pop("myrewards", None)


@pytest.mark.parametrize(("entry", "expected"), [
    ("nosuchmodule:f", "Importing 'nosuchmodule' failed"),
    ("os.path:no_such_function", "a function that module 'os.path' defines; it has no 'no_such_function'"),
    ("os:sep", "a callable; os.sep is a str"),
    ("/nonexistent/reward-model", "No such directory exists"),
])
def test_a_bad_entry_names_its_key(entry: str, expected: str):
    with pytest.raises(ConfigError) as raised:
        compose_valid_cfg("method=grpo", f"method.reward_funcs=[exact_match,{entry}]")
    assert "Invalid value for method.reward_funcs[1]" in str(raised.value) and expected in str(raised.value)


@pytest.mark.parametrize(("override", "key"), [
    ("method.reward_weights=[1.0,2.0]", "method.reward_weights"),
    ("method.reward_funcs=[]", "method.reward_funcs"),
    ("method.format_pattern='[0-9'", "method.format_pattern"),
    ("method.length_target=0", "method.length_target"),
    ("method.loss_type=grp", "method.loss_type"),
    ("method.vllm_mode=remote", "method.vllm_mode"),
])
def test_bad_online_settings_are_named(override: str, key: str):
    with pytest.raises(ConfigError, match=f"Invalid value for {key.replace('.', '[.]')}"):
        compose_valid_cfg("method=grpo", override)


def test_a_generation_batch_must_hold_whole_groups():
    with pytest.raises(ConfigError, match=r"method.num_generations: 5\. Expected a divisor of the 32 completions"):
        prepared("method=grpo", "method.num_generations=5")


@pytest.mark.parametrize(("key", "values"), list(PROSE_CHOICES["trl.GRPOConfig"].items()))
def test_trl_accepts_every_value_align_lists_for_it(key: str, values: tuple[str, ...], tmp_path: Path):
    """The choices TRL states only in prose, as align checks them, are all accepted by TRL's own config."""
    from trl import GRPOConfig

    assert key in trl_fields("trl.GRPOConfig")
    for value in values:
        GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none", **{key: value})


def test_the_reference_answer_reaches_reward_functions_under_its_own_name():
    rows = Dataset.from_dict({"prompt": [[{"role": "user", "content": "What is 1 + 1?"}]],
                              "completion": [[{"role": "assistant", "content": "2"}]]})
    ready = rewards.with_references(rows, method(), "train")
    assert ready.column_names == ["prompt", "reference"] and ready["reference"] == ["2"]
    with pytest.raises(DataError, match="method.reward_funcs has exact_match"):
        rewards.with_references(rows.remove_columns("completion"), method(), "train")
    with pytest.raises(DataError, match="method.reference_column='answer' is not a column"):
        rewards.with_references(rows, method("method.reference_column=answer"), "train")


def test_vllm_without_vllm_is_refused_before_anything_loads(tmp_path: Path):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    out = run_align("method=grpo", "method.use_vllm=true", f"hydra.run.dir={tmp_path / 'run'}", timeout=120)
    assert out.returncode == 2 and "method.use_vllm=true generates with vLLM" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()


def test_vllm_settings_reach_trls_config(tmp_path: Path):
    """Where vllm and CUDA are there (the machine check is what dry_run skips), use_vllm and its settings pass
    through to GRPOConfig under TRL's names, colocate by default."""
    from align.run.trainer import trl_args

    run = prepared("method=grpo", "method.use_vllm=true", "method.vllm_gpu_memory_utilization=0.3", "dry_run=true")
    args = trl_args(run.cfg, run.method, tmp_path, on_cuda=False)
    assert (args.use_vllm, args.vllm_mode, args.vllm_gpu_memory_utilization) == (True, "colocate", 0.3)


def test_a_missing_module_fails_in_seconds_naming_the_key(tmp_path: Path):
    """The issue's command: `method.reward_funcs=[nosuchmodule:f]`."""
    out = run_align("method=grpo", "method.reward_funcs=[nosuchmodule:f]", f"hydra.run.dir={tmp_path / 'run'}",
                    cwd=tmp_path, env=cli_env(), timeout=120)
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 2 and last.startswith("align: error: Invalid value for method.reward_funcs[0]")
    assert not (tmp_path / "run").exists()


def test_every_online_method_validates():
    for name in ("grpo", "rloo", "online_dpo"):
        cfg = compose_cfg(f"method={name}")
        assert list(cfg.method.reward_funcs) == ["exact_match"] and cfg.tuning == f"tune/tiny/{name}.yaml"
        assert prepared(f"method={name}").method.rewarded
