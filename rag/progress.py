"""Progress for long commands: a tqdm bar on a terminal, plain lines in a pipe or a log.

A bar redrawn with ``\\r`` is noise in a file, and a piped ``rag index`` printed nothing for
minutes. Off a terminal, ``Lines`` writes one line at each tenth of the work (when its total
is known) and at least every ``EVERY_S`` seconds, to stderr.
"""

from __future__ import annotations

import sys
import time
from typing import Any

EVERY_S = 30.0


def progress_bar(total: int | None, desc: str, unit: str) -> Any:
    """A tqdm bar on a terminal, otherwise ``Lines``; both take ``update``, ``set_postfix_str``,
    ``total`` and ``close``."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
    return Lines(total, desc, unit)


class Lines:
    """Progress as lines: ``indexing: 40/141 doc (28%), 1,204 chunks, 12 s``."""

    def __init__(self, total: int | None, desc: str, unit: str) -> None:
        self.total = total
        self.desc, self.unit = desc, unit
        self.n = 0
        self.postfix = ""
        self.started = self.last = time.monotonic()
        self.shown_tenth = 0

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        tenth = int(10 * self.n / self.total) if self.total else 0
        if tenth > self.shown_tenth or now - self.last >= EVERY_S:
            self.shown_tenth = max(tenth, self.shown_tenth)
            self._line(now)

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        self.postfix = text

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if self.n and (not self.total or self.shown_tenth < 10):
            self._line(time.monotonic())

    def _line(self, now: float) -> None:
        self.last = now
        share = f"/{self.total} {self.unit} ({100 * self.n // self.total}%)" if self.total else f" {self.unit}"
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.n}{share}{extra}, {now - self.started:.0f} s", file=sys.stderr, flush=True)
