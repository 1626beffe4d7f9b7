"""Shared by the evaluation tests: the sample of MT-Bench's 80 questions in FastChat's format, from the shared data
folder beside the checkout (or the main one's, for a worktree)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SHARED_DATA

_NAME = "mt_bench_questions.jsonl"
QUESTIONS = next((p for p in (SHARED_DATA / _NAME, Path("/work/shared/data") / _NAME) if p.is_file()),
                 SHARED_DATA / _NAME)
