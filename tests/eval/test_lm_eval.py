"""eval=lm_eval: task names checked before any model loads, and a local task (tests/eval/lm_tasks/) run by
lm-evaluation-harness on the tiny model, its metrics named after the task."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from align.errors import ConfigError
from align.eval.lm_eval import check_tasks, flat_metrics, run_lm_eval

pytest.importorskip("lm_eval", reason="eval=lm_eval needs the eval extra: pip install 'align[eval]'")

LM_TASKS = Path(__file__).parent / "lm_tasks"


def lm_eval_settings(**overrides) -> SimpleNamespace:
    settings = dict(tasks=["align_arithmetic"], include_path=str(LM_TASKS), limit=None, num_fewshot=None,
                    batch_size=8)
    return SimpleNamespace(**{**settings, **overrides})


def test_a_local_task_is_found_in_include_path_quickly():
    started = time.monotonic()
    check_tasks(lm_eval_settings())
    assert time.monotonic() - started < 10  # the folder alone, not the harness's 10,000 task files


@pytest.mark.slow  # the harness indexes its own task files once per cache (10-30 s)
def test_unknown_tasks_are_named_with_close_matches():
    with pytest.raises(ConfigError) as error:
        check_tasks(lm_eval_settings(tasks=["align_arithmetik", "hellaswg", "arc_easy"]))
    message = str(error.value)
    assert message.startswith("Invalid value for eval.lm_eval.tasks:")
    assert "'align_arithmetik': did you mean align_arithmetic" in message
    assert "'hellaswg': did you mean hellaswag" in message
    assert "'arc_easy'" not in message  # a task of the harness's own is known

    started = time.monotonic()
    check_tasks(lm_eval_settings(tasks=["arc_easy", "align_arithmetic"]))
    with pytest.raises(ConfigError, match="'mmlu_abstract_algebr': did you mean mmlu_abstract_algebra"):
        check_tasks(lm_eval_settings(tasks=["mmlu_abstract_algebr"], include_path=None))
    assert time.monotonic() - started < 10  # the harness's names are read from align's cache


def test_a_missing_include_path_is_named(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"eval\.lm_eval\.include_path.*not a folder"):
        check_tasks(lm_eval_settings(include_path=str(tmp_path / "missing")))


def test_no_tasks_is_an_error():
    with pytest.raises(ConfigError, match=r"eval\.lm_eval\.tasks"):
        check_tasks(lm_eval_settings(tasks=[]))


def test_metrics_are_flattened_under_the_task_name():
    results = {
        "gsm8k": {"alias": "gsm8k", "exact_match,strict-match": 0.25, "exact_match_stderr,strict-match": 0.1,
                  "exact_match,flexible-extract": 0.5, "exact_match_stderr,flexible-extract": "N/A"},
        "arc_easy": {"alias": "arc_easy", "acc,none": 0.75, "acc_norm,none": 0.5, "sample_len": 10},
    }
    assert flat_metrics(results) == {
        "lm_eval/gsm8k/exact_match/strict-match": 0.25,
        "lm_eval/gsm8k/exact_match_stderr/strict-match": 0.1,
        "lm_eval/gsm8k/exact_match/flexible-extract": 0.5,
        "lm_eval/arc_easy/acc": 0.75,
        "lm_eval/arc_easy/acc_norm": 0.5,
    }


@pytest.mark.slow
def test_run_lm_eval_on_a_local_task(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import lm_eval

    calls = []
    evaluate = lm_eval.simple_evaluate
    monkeypatch.setattr(lm_eval, "simple_evaluate", lambda **kwargs: calls.append(kwargs) or evaluate(**kwargs))
    metrics = run_lm_eval(tiny_model, None, lm_eval_settings(limit=6), tmp_path / "lm_eval", on_cuda=False)
    assert set(metrics) == {"lm_eval/align_arithmetic/acc", "lm_eval/align_arithmetic/acc_stderr"}
    assert 0 <= metrics["lm_eval/align_arithmetic/acc"] <= 1
    results = json.loads((tmp_path / "lm_eval" / "results.json").read_text())
    assert results["results"]["align_arithmetic"]["acc,none"] == metrics["lm_eval/align_arithmetic/acc"]
    assert results["n-samples"]["align_arithmetic"] == {"original": 10, "effective": 6}
    [call] = calls
    assert call["apply_chat_template"] is True  # the tiny model's tokenizer has a chat template
    assert call["model_args"] == {"pretrained": str(tiny_model), "tokenizer": str(tiny_model)}
