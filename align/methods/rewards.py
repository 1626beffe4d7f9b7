"""The reward functions of the online methods (grpo, rloo, online_dpo), named by `method.reward_funcs`.

Each entry is a built-in (`exact_match`: the completion's answer is the row's reference answer; `format`: it
matches `method.format_pattern`; `length`: a penalty beyond `method.length_target` tokens), a user's function by
import path (`package.module:function`, TRL's signature: `completions, **columns -> list[float | None]`), or a
sequence-classification reward model (a directory or Hub id, which TRL loads onto the run's device with its own
tokenizer). `check` validates every entry before any model loads; `reward_funcs` gives the trainer TRL's form.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from align.errors import DataError, invalid

BUILT_IN = ("exact_match", "format", "length")
# The column with each prompt's reference answer as text: TRL hands reward functions every column but prompt and
# completion, so the data's reference completion is passed under this name (with_references).
REFERENCE = "reference"
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def check(method: DictConfig) -> None:
    """One paragraph naming `method.reward_funcs[i]` (or the built-ins' settings) for what cannot work."""
    from align.config.checks import check_model_path

    funcs = list(method.reward_funcs)
    if not funcs:
        raise invalid("method.reward_funcs", [], f"at least one reward function: {', '.join(BUILT_IN)}, "
                      "package.module:function, or a reward model directory")
    for i, spec in enumerate(funcs):
        key = f"method.reward_funcs[{i}]"
        if spec in BUILT_IN:
            continue
        if _IMPORT_PATH.match(str(spec)):
            _import(key, str(spec))
        else:
            check_model_path(key, str(spec))
    weights = method.get("reward_weights")
    if weights is not None and len(weights) != len(funcs):
        raise invalid("method.reward_weights", list(weights), f"one weight per entry of method.reward_funcs "
                      f"({len(funcs)})")
    try:
        re.compile(method.format_pattern)
    except re.error as error:
        raise invalid("method.format_pattern", method.format_pattern, f"a regular expression ({error})") from None
    if method.length_target < 1:
        raise invalid("method.length_target", method.length_target, "a positive number of tokens")


def reward_funcs(method: DictConfig) -> list[Any]:
    """What TRL's `reward_funcs` takes: each built-in as a function logged under its own name, a user's function
    as imported, a reward model as its path."""
    built = {"exact_match": exact_match, "format": _format(method.format_pattern),
             "length": _length(method.length_target)}
    out: list[Any] = []
    for i, spec in enumerate(method.reward_funcs):
        if spec in built:
            out.append(built[spec])
        elif _IMPORT_PATH.match(str(spec)):
            out.append(_import(f"method.reward_funcs[{i}]", str(spec)))
        else:
            out.append(str(spec))
    return out


def with_references(dataset: Any, method: DictConfig, split: str) -> Any:
    """The prompts with each row's reference answer as text in `reference`, which TRL passes to reward functions
    (it passes every column but prompt and completion): `method.reference_column`, or the text of the data's
    reference completion. A DataError when exact_match is asked for and the rows have no reference."""
    source = method.reference_column or "completion"
    if source not in dataset.column_names:
        if "exact_match" not in list(method.reward_funcs):
            return dataset
        if method.reference_column:
            raise DataError(f"method.reference_column={source!r} is not a column of the {split} rows; they have "
                            f"{', '.join(dataset.column_names)}. Name the column that holds each reference answer.")
        raise DataError(
            f"method.reward_funcs has exact_match, which compares each completion with the row's reference answer, "
            f"but the {split} rows ({', '.join(dataset.column_names)}) have none. Use data with reference completions "
            "(the arithmetic default, prompt/completion or chat rows), name the column with method.reference_column, "
            "or choose other method.reward_funcs."
        )
    texts = [_text(value) for value in dataset[source]]
    if source == "completion":  # TRL keeps it from reward functions, and the trainer has no use for it
        dataset = dataset.remove_columns("completion")
    if REFERENCE in dataset.column_names:
        dataset = dataset.remove_columns(REFERENCE)
    return dataset.add_column(REFERENCE, texts)


def _import(key: str, spec: str) -> Callable:
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise invalid(key, spec, "an importable module and a function in it, `package.module:function`",
                      f"Importing {module_name!r} failed: {error}. Is its folder on PYTHONPATH (e.g. PYTHONPATH=.)?"
                      ) from None
    function = getattr(module, name, None)
    if function is None:
        raise invalid(key, spec, f"a function that module {module_name!r} defines; it has no {name!r}")
    if not callable(function):
        raise invalid(key, spec, f"a callable; {module_name}.{name} is a {type(function).__name__}")
    return function


def _text(completion: Any) -> str:
    """The text of a completion in TRL's standard (string) or conversational (messages) form."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return "" if completion is None else str(completion)


def exact_match(completions: list, reference: list, **_: Any) -> list[float | None]:
    """1 when the completion's answer is the row's reference answer (its last number, GSM8K-style, or the whole
    text for a reference without one): the verifier the held-out exact match and rejection sampling use."""
    from align.eval.exact_match import verify

    return [None if r is None else float(verify(_text(c), str(r)).extracted)
            for c, r in zip(completions, reference, strict=True)]


def _format(pattern: str) -> Callable:
    compiled = re.compile(pattern)

    def format(completions: list, **_: Any) -> list[float]:  # noqa: A001 - TRL logs a reward by its name
        return [float(compiled.fullmatch(_text(c).strip()) is not None) for c in completions]

    return format


def _length(target: int) -> Callable:
    def length(completions: list, completion_ids: list | None = None, **_: Any) -> list[float]:
        sizes = [len(ids) for ids in completion_ids] if completion_ids is not None else [len(_text(c)) for c in
                                                                                         completions]
        return [-max(0, size - target) / target for size in sizes]

    return length


def summary(log_history: list[dict[str, Any]], window: int = 3) -> dict[str, float]:
    """metrics.json's view of an online run's logged rewards: the reward at the start and at the end (means of
    the first and last `window` logged steps), each reward function's, the KL to the reference and the completion
    length at the end. Online DPO logs the rewards' total as objective/scores."""
    steps = [entry for entry in log_history if "step" in entry and "train_runtime" not in entry]
    total = "reward" if any("reward" in entry for entry in steps) else "objective/scores"
    keys = [total, *sorted({k for entry in steps for k in entry if k.startswith("rewards/") and k.endswith("/mean")}),
            "kl", "objective/kl", "completions/mean_length"]
    out: dict[str, float] = {}
    for key in keys:
        values = [entry[key] for entry in steps if isinstance(entry.get(key), (int, float))]
        if not values:
            continue
        name = "train_reward" if key == total else f"train_{key}"
        out[f"{name}_end" if key == total else name] = sum(values[-window:]) / len(values[-window:])
        if key == total:
            out["train_reward_start"] = sum(values[:window]) / len(values[:window])
    return out
