"""A writer lease for an index on a Chroma server, shared by every machine that writes to it.

A file lock only guards one machine; two machines indexing into one server collection would
interleave their writes. The lease is one record in ``<collection>-lease`` on the server:
holder, host, kind, since, expiry and a fencing generation. A writer takes it when it is free or
expired, renews it from a background thread, and checks before every write that it still holds
it (the generation it took), so a writer that stalled past its expiry and was taken over stops
instead of overwriting the new holder's work. What a killed holder half-wrote is repaired by the
next writer (``indexing.repair``: chunks no saved manifest claims are deleted, vectors reused).

Chroma has no compare-and-swap, so taking the lease is write-then-confirm: after writing its
claim a writer waits ``SETTLE_S`` and reads it back; of two writers that raced, the one whose
claim was overwritten sees the other's and backs off.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from rag.errors import IndexBusyError

LEASE_ID = "lease"
SETTLE_S = 0.5


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


class ServerLease:
    """The write lease of one server collection; ``hold`` it around an indexing run."""

    def __init__(self, client: Any, collection: str, seconds: float) -> None:
        self.client = client
        self.collection = collection
        self.seconds = seconds
        self.token = uuid.uuid4().hex
        self.generation = 0
        self.taken_over: dict[str, Any] | None = None  # the expired lease this writer replaced
        self._stop = threading.Event()
        self._lost = ""

    @property
    def _col(self) -> Any:
        return self.client.get_or_create_collection(f"{self.collection}-lease", embedding_function=None)

    def read(self) -> dict[str, Any]:
        got = self._col.get(ids=[LEASE_ID], include=["metadatas"])
        return dict((got["metadatas"] or [None])[0] or {}) if got["ids"] else {}

    def _write(self, record: dict[str, Any]) -> None:
        self._col.upsert(ids=[LEASE_ID], embeddings=[[1.0]], metadatas=[record])

    def busy(self, current: dict[str, Any]) -> IndexBusyError:
        who = current.get("host", "another machine")
        what = "an answer bringing it up to date" if current.get("kind") == "ask" else "indexing"
        return IndexBusyError(
            f"index busy: {self.collection} is being indexed by {who} since {_stamp(float(current.get('since', 0)))}"
            f" ({what}; the lease expires {_stamp(float(current.get('expiry', 0)))} unless renewed)"
        )

    def acquire(self, kind: str = "index", wait: float = 0.0) -> None:
        """Take the lease, or raise ``IndexBusyError`` naming its holder. A user's ``index`` waits up
        to ``wait`` seconds for an ``ask`` holder to finish."""
        deadline = time.monotonic() + wait
        while True:
            current = self.read()
            free = not current.get("token") or float(current.get("expiry", 0)) < time.time()
            if free:
                now = time.time()
                self.generation = int(current.get("generation", 0)) + 1
                self._write(
                    {
                        "token": self.token,
                        "host": f"{socket.gethostname()} (pid {os.getpid()})",
                        "kind": kind,
                        "since": now,
                        "expiry": now + self.seconds,
                        "generation": self.generation,
                    }
                )
                time.sleep(SETTLE_S)
                confirmed = self.read()
                if confirmed.get("token") == self.token:
                    self.taken_over = current if current.get("token") else None
                    return
                current = confirmed
            if kind == "index" and current.get("kind") == "ask" and time.monotonic() < deadline:
                time.sleep(1.0)
                continue
            raise self.busy(current)

    def check(self) -> None:
        """Fencing: raise unless this writer still holds the lease it took (called before each write)."""
        if self._lost:
            raise IndexBusyError(self._lost)
        current = self.read()
        if current.get("token") != self.token or int(current.get("generation", 0)) != self.generation:
            self._lost = (
                f"index busy: the write lease on {self.collection} was taken over by "
                f"{current.get('host', 'another writer')} (this run stalled past its expiry); "
                "nothing more was written, and its half-done work is repaired by that writer"
            )
            raise IndexBusyError(self._lost)

    def renew(self) -> None:
        current = self.read()
        if current.get("token") == self.token:
            self._write({**current, "expiry": time.time() + self.seconds})

    def release(self) -> None:
        with contextlib.suppress(Exception):  # an unreachable server lets the lease expire
            current = self.read()
            if current.get("token") == self.token:
                self._write({**current, "token": "", "expiry": 0.0})

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            with contextlib.suppress(Exception):  # a missed renewal shows at the next check
                self.renew()

    @contextlib.contextmanager
    def hold(self, kind: str = "index", wait: float = 0.0) -> Iterator[ServerLease]:
        self.acquire(kind, wait)
        beat = threading.Thread(target=self._heartbeat, name="rag-lease", daemon=True)
        beat.start()
        try:
            yield self
        finally:
            self._stop.set()
            beat.join(timeout=5)
            self.release()
