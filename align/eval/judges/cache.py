"""The judgments cache: a judge's verdict on a request is paid for once, whichever run asks for it again.

One jsonl file under the cache directory, one judgment a line, keyed by the sha256 of the judge's id, the kind of
judgment (rate or compare) and the request's content. Lines are appended (and flushed) as judgments arrive, so a
run stopped half-way keeps what it paid for; the file is read when the cache opens, skipping a line cut short.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
from pathlib import Path

from align.eval.judges import Judgment, PairRequest, RateRequest

log = logging.getLogger(__name__)

FILE_NAME = "judgments_cache.jsonl"


def cache_key(judge_id: str, kind: str, request: RateRequest | PairRequest) -> str:
    content = json.dumps([judge_id, kind, dataclasses.asdict(request)], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(content.encode()).hexdigest()


class JudgmentCache:
    """Judgments by key, read from and appended to `<cache_dir>/judgments_cache.jsonl`; safe across threads."""

    def __init__(self, cache_dir: Path):
        self.path = Path(cache_dir) / FILE_NAME
        self._lock = threading.Lock()
        self._judgments: dict[str, Judgment] = {}
        text = self.path.read_text(encoding="utf-8") if self.path.is_file() else ""
        self._cut_short = bool(text) and not text.endswith("\n")  # the next line must not extend a broken one
        for number, line in enumerate(text.splitlines(), 1):
            try:
                row = json.loads(line)
                self._judgments[row["key"]] = Judgment(**row["judgment"])
            except (ValueError, KeyError, TypeError):
                log.warning("%s:%d is not a cached judgment (a write cut short?); skipped", self.path, number)

    def __len__(self) -> int:
        return len(self._judgments)

    def get(self, key: str) -> Judgment | None:
        return self._judgments.get(key)

    def put(self, key: str, judgment: Judgment) -> None:
        line = json.dumps({"key": key, "judgment": dataclasses.asdict(judgment)}, ensure_ascii=False)
        with self._lock:
            self._judgments[key] = judgment
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(("\n" if self._cut_short else "") + line + "\n")
            self._cut_short = False
