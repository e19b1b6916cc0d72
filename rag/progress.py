"""Progress for long commands: a tqdm bar on a terminal, plain lines in a pipe or a log.

A bar redrawn with carriage returns is noise in a file, and a piped ``rag index`` printed
nothing for minutes. Off a terminal, ``Lines`` writes a line every ``every_s`` seconds
(``RAG_PROGRESS_EVERY_S``, 30 by default) and a last one when it wrote any, to stderr: a short
run stays one summary line, a long one shows it is moving.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def progress_bar(total: int | None, desc: str, unit: str, every_s: float = 30.0) -> Any:
    """A tqdm bar on a terminal, otherwise ``Lines``; both take ``update``, ``set_postfix_str``,
    ``total`` and ``close``."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
    return Lines(total, desc, unit, every_s)


class Lines:
    """Progress as lines: ``indexing: 40/141 doc (28%), 1204 chunks, 12 chunks/s, 31 s``."""

    def __init__(self, total: int | None, desc: str, unit: str, every_s: float) -> None:
        self.total = total
        self.desc, self.unit, self.every_s = desc, unit, every_s
        self.n = 0
        self.postfix = ""
        self.started = self.last = time.monotonic()
        self.shown = 0

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self._line(now)

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        """With ``refresh``, a line when one is due, as ``update`` writes: a bar over documents
        says how a big one moves while it is written."""
        self.postfix = text
        now = time.monotonic()
        if refresh and now - self.last >= self.every_s:
            self._line(now)

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if self.shown:  # a run long enough to have said anything ends with where it got to
            self._line(time.monotonic())

    def _line(self, now: float) -> None:
        self.last = now
        self.shown += 1
        share = f"/{self.total} {self.unit} ({100 * self.n // self.total}%)" if self.total else f" {self.unit}"
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.n}{share}{extra}, {now - self.started:.0f} s", file=sys.stderr, flush=True)
