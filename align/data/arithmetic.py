"""Generated chat arithmetic ("What is 23 + 19?" -> "42"): deterministic data in every format a method needs.

Formats (TRL's conversational ones): `sft` prompt/completion, `preference` prompt/chosen/rejected whose
rejected answer is wrong, `unpaired` prompt/completion/label, and `text` for continued pretraining.
The test split is disjoint from train; its answers give the exact-match metric. `prompt` (what rejection
sampling asks for) gives fresh problems outside both splits, their answers kept as references, so that
sampling labels problems the SFT stage never saw, as the handbook samples new prompts.
"""

from __future__ import annotations

import random
from typing import Any

OPERATIONS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def problems(max_operand: int, operations: list[str], seed: int) -> list[tuple[str, str]]:
    """Every (question, answer) pair for the operand range, shuffled deterministically."""
    pairs = [
        (f"What is {a} {op} {b}?", str(OPERATIONS[op](a, b)))
        for op in operations
        for a in range(max_operand + 1)
        for b in range(max_operand + 1)
    ]
    random.Random(seed).shuffle(pairs)
    return pairs


def wrong_answer(answer: str, rng: random.Random) -> str:
    """A plausible mistake: off by one or ten, or two digits swapped."""
    value = int(answer)
    candidates = {value + d for d in (-11, -10, -2, -1, 1, 2, 10, 11)}
    digits = answer.lstrip("-")
    if len(digits) > 1 and digits[0] != digits[-1]:
        candidates.add(int(("-" if value < 0 else "") + digits[::-1]))
    candidates.discard(value)
    return str(rng.choice(sorted(candidates)))


def _row(question: str, answer: str, kind: str, rng: random.Random, index: int) -> dict[str, Any]:
    prompt = [{"role": "user", "content": question}]
    if kind in ("sft", "prompt"):  # prompts for sampling keep the reference answer as their completion
        return {"prompt": prompt, "completion": [{"role": "assistant", "content": answer}]}
    if kind == "preference":
        return {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": answer}],
            "rejected": [{"role": "assistant", "content": wrong_answer(answer, rng)}],
        }
    if kind == "unpaired":
        desirable = index % 2 == 0
        shown = answer if desirable else wrong_answer(answer, rng)
        return {"prompt": prompt, "completion": [{"role": "assistant", "content": shown}], "label": desirable}
    if kind == "text":
        return {"text": f"{question[len('What is ') : -1]} = {answer}"}
    raise ValueError(f"unknown data kind {kind!r}")


def split_problems(data: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, test) problems for the data config; raises ValueError when the range is too small."""
    pool = problems(data.max_operand, list(data.operations), data.seed)
    needed = data.num_train + data.num_test
    if needed > len(pool):
        raise ValueError(
            f"data.num_train + data.num_test = {needed} but only {len(pool)} distinct problems exist "
            f"for data.max_operand={data.max_operand}; raise max_operand or lower the counts."
        )
    return pool[: data.num_train], pool[data.num_train : needed]


def fresh_problems(data: Any) -> list[tuple[str, str]]:
    """Every problem in neither split, in the same deterministic order."""
    fresh = problems(data.max_operand, list(data.operations), data.seed)[data.num_train + data.num_test :]
    if not fresh:
        raise ValueError(
            f"No problems are left for sampling prompts: data.num_train + data.num_test use all of them for "
            f"data.max_operand={data.max_operand}; raise max_operand or lower the counts."
        )
    return fresh


def load(data: Any, kind: str):
    """DatasetDict(train, test) in the format `kind`; for `prompt`, train holds fresh problems."""
    from datasets import Dataset, DatasetDict

    train, test = split_problems(data)
    if kind == "prompt":
        train = fresh_problems(data)
    rng = random.Random(data.seed + 1)
    splits = {
        name: Dataset.from_list([_row(q, a, kind, rng, i) for i, (q, a) in enumerate(rows)])
        for name, rows in (("train", train), ("test", test))
    }
    return DatasetDict(splits)


def exact_match_set(data: Any) -> list[tuple[list[dict[str, str]], str]]:
    """Held-out (prompt messages, answer) pairs scored by greedy generation."""
    _, test = split_problems(data)
    return [([{"role": "user", "content": q}], a) for q, a in test[: data.num_exact_match]]


def corpus() -> list[str]:
    """Chat-formatted arithmetic text for training the tiny tokenizer's merges."""
    lines = []
    for question, answer in problems(99, ["+", "-", "*"], seed=0)[:3000]:
        lines.append(f"<|user|>\n{question}<|end|>\n<|assistant|>\n{answer}<|end|>\n")
    lines += ["The quick brown fox jumps over the lazy dog.", "Human: Assistant: Question: Answer:"] * 20
    return lines
