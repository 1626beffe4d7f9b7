"""The questions of MT-Bench and of the win rate: a local jsonl in FastChat's question format
({"question_id", "category", "turns": [q1, q2], "reference": [r1, r2]}) or a Hub dataset with the columns of
HuggingFaceH4/mt_bench_prompts (prompt: the list of turns, category, prompt_id, reference)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from align.errors import DataError, SourceUnreachable

FORMAT = ('one JSON object per line with "turns" (a list of questions, or "prompt" in the Hub dataset\'s '
          'columns), and optional "question_id", "category" and "reference" (a list of reference answers)')


@dataclass(frozen=True)
class Question:
    question_id: Any  # as the source gives it (FastChat's are numbers)
    category: str
    turns: tuple[str, ...]
    references: tuple[str | None, ...]  # one per turn, None where the source gives none

    def reference(self, turn: int) -> str | None:
        return self.references[turn] if turn < len(self.references) else None


def is_local(source: str) -> bool:
    """A local file (existing, or written like a path); anything else is a Hub dataset id."""
    return (Path(source).expanduser().exists() or source.startswith(("/", ".", "~")) or source.count("/") > 1
            or source.endswith((".jsonl", ".json")))


def check_source(key: str, source: str) -> None:
    """A local questions file that exists; a Hub id is checked when it is loaded."""
    from align.errors import invalid

    path = Path(source).expanduser()
    if is_local(source) and not path.is_file():
        raise invalid(key, source, f"an existing questions file ({FORMAT}), or a Hub dataset id such as "
                      "HuggingFaceH4/mt_bench_prompts", "No such file exists.")


def load_questions(source: str, limit: int | None, key: str) -> list[Question]:
    """The first `limit` questions (all when None) of a local jsonl or a Hub dataset; a DataError naming `key`, the
    file and the line for a row that is not a question."""
    rows = _local_rows(source, key) if is_local(source) else _hub_rows(source, key)
    questions = [_question(row, where, key, index) for index, (where, row) in enumerate(rows)]
    if not questions:
        raise DataError(f"{key}={source!r} holds no questions; expected {FORMAT}.")
    return questions if limit is None else questions[:limit]


def _local_rows(source: str, key: str) -> list[tuple[str, Any]]:
    path = Path(source).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"Could not read {key}={source!r}: {error}.") from None
    if text.lstrip().startswith("["):  # a JSON array of the same objects
        try:
            return [(f"{path} item {i}", row) for i, row in enumerate(json.loads(text))]
        except ValueError as error:
            raise DataError(f"{path} ({key}) is not valid JSON: {error}.") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((f"{path}:{number}", json.loads(line)))
        except ValueError as error:
            raise DataError(f"{path}:{number} ({key}) is not a JSON object: {error}. Expected {FORMAT}.") from None
    return rows


def _hub_rows(source: str, key: str) -> list[tuple[str, Any]]:
    from datasets import load_dataset

    try:
        dataset = load_dataset(source, split="train")
    except ValueError as error:
        raise DataError(f"Could not load the Hub dataset {source!r} ({key}): {' '.join(str(error).split())}") from None
    except (ConnectionError, OSError) as error:
        offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
        where = ("offline mode is on (HF_DATASETS_OFFLINE/HF_HUB_OFFLINE), so only the local datasets cache was "
                 "searched" if offline else "check the id and your network")
        raise SourceUnreachable(
            f"Could not load the Hub dataset {source!r} ({key}): {' '.join(str(error).split())}; {where}. A local "
            f"jsonl in FastChat's question format works offline: {key}=<file>."
        ) from None
    return [(f"{source} row {i}", row) for i, row in enumerate(dataset)]


def _question(row: Any, where: str, key: str, index: int) -> Question:
    if not isinstance(row, dict):
        raise DataError(f"{where} ({key}) is a JSON {type(row).__name__}; expected {FORMAT}.")
    turns = row.get("turns", row.get("prompt"))
    if isinstance(turns, str):
        turns = [turns]
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise DataError(f"{where} ({key}) has no questions to ask: its turns are {turns!r}; expected {FORMAT}.")
    references = row.get("reference") or []
    if isinstance(references, str):
        references = [references]
    qid = row.get("question_id", row.get("prompt_id", index))
    return Question(qid, str(row.get("category") or "general"), tuple(turns),
                    tuple(str(r) if r else None for r in references))
