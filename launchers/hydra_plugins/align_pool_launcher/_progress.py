"""What the user watches on stderr: one live line of counts while jobs run, events, and the final summary."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

# Clear the terminal line before rewriting it; only used when stderr is a terminal.
_CLEAR = "\r\x1b[K"


@dataclass
class Row:
    """One job as the summary shows it."""

    num: int
    overrides: str
    state: str  # queued, running, done, skipped, failed
    job_dir: str
    detail: str = ""
    attempts: int = 1  # more than one: its rendezvous port was taken, and the pool started it again


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class Progress:
    """Rewrites one status line in place on a terminal; elsewhere prints a line whenever a count changes."""

    def __init__(self, rows: list[Row], stream: TextIO | None = None) -> None:
        self.rows = rows
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._shown = ""

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("done", "running", "failed", "skipped", "queued"), 0)
        for row in self.rows:
            counts[row.state] += 1
        return counts

    def status(self) -> str:
        c = self.counts()
        return (
            f"[pool] done {c['done']}  running {c['running']}  failed {c['failed']}  "
            f"queued {c['queued']}  skipped {c['skipped']}  elapsed"
        )

    def update(self) -> None:
        status = self.status()
        if self.tty:
            self._write(f"{_CLEAR}{status} {clock(time.monotonic() - self.started)}")
        elif status != self._shown:
            self._write(f"{status} {clock(time.monotonic() - self.started)}\n")
        self._shown = status

    def event(self, message: str) -> None:
        """A line that stays (a job finished or failed), printed above the live line."""
        self._write(f"{_CLEAR if self.tty else ''}[pool] {message}\n")
        if self.tty:
            self._shown = ""
            self.update()

    def close(self) -> None:
        if self.tty and self._shown:
            self._write("\n")
        self._shown = ""

    def summary(self) -> str:
        c = self.counts()
        retried = sum(row.attempts > 1 for row in self.rows)
        lines = [
            f"[pool] {len(self.rows)} jobs in {clock(time.monotonic() - self.started)}: "
            f"{c['done']} done, {c['skipped']} skipped, {c['failed']} failed"
            + (f" ({retried} retried on a new port: their rendezvous port was taken)" if retried else "")
        ]
        width = max((len(row.overrides) for row in self.rows), default=0)
        for row in self.rows:
            where = f"logs: {row.job_dir}/stderr.log" if row.state == "failed" else row.job_dir
            lines.append(f"  {row.state:<8} #{row.num:<3} {row.overrides:<{width}}  {where}")
            if row.detail:
                lines.append(f"  {'':<8} {'':<4} {row.detail}")
        return "\n".join(lines)

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
