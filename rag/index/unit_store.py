"""Where each chunk's sentence vectors live, keyed by the hash of the chunk's text.

Embedded index: a SQLite file beside the manifest (``units.sqlite3``), one float16 blob per
chunk. Chroma was tried first: as documents, its full-text index made 1,000 records take 10 s
to add and 87 MB on disk; this file takes milliseconds and 8 KB a chunk. Chroma server: a
``<collection>-sentences`` collection, the blob in base64 as metadata (not a document, so no
full-text index), so every machine of the team shares them.
"""

from __future__ import annotations

import base64
import sqlite3
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

PAGE = 500
FILE = "units.sqlite3"


class LocalUnits:
    """The embedded index's unit vectors in one SQLite file (WAL: readers never wait for a writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.created = not path.exists()  # a new or lost file: the index run makes them again
        self._lock = threading.Lock()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS units (key TEXT PRIMARY KEY, vecs BLOB NOT NULL)")
            db.execute("SELECT count(*) FROM units LIMIT 1").fetchone()
        except sqlite3.DatabaseError:  # not a database (damaged): derived data, start again
            db.close()
            for extra in ("", "-wal", "-shm"):
                self.path.with_name(self.path.name + extra).unlink(missing_ok=True)
            self.created = True
            return self._open()
        return db

    def _rows(self, sql: str, keys: list[str]) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        with self._lock:
            for i in range(0, len(keys), PAGE):
                page = keys[i : i + PAGE]
                out += self._db.execute(sql.format(",".join("?" * len(page))), page).fetchall()
        return out

    def get(self, keys: list[str]) -> dict[str, bytes]:
        return {k: bytes(v) for k, v in self._rows("SELECT key, vecs FROM units WHERE key IN ({})", keys)}

    def has(self, keys: list[str]) -> set[str]:
        return {k for (k,) in self._rows("SELECT key FROM units WHERE key IN ({})", keys)}

    def put(self, blobs: dict[str, bytes]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO units VALUES (?, ?)", blobs.items())
            self._db.execute("COMMIT")

    def delete(self, keys: list[str]) -> None:
        with self._lock:
            for i in range(0, len(keys), PAGE):
                page = keys[i : i + PAGE]
                self._db.execute(f"DELETE FROM units WHERE key IN ({','.join('?' * len(page))})", page)

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM units")


class ServerUnits:
    """A Chroma server's copy: one record per chunk, the blob as base64 metadata."""

    created = False

    def __init__(self, collection: Callable[[], Any], reading: Callable[[Callable[[], Any]], Any]) -> None:
        self._collection = collection  # looked up at call time: a reopen takes effect
        self._reading = reading

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self._reading(partial(self._do, method, kwargs))

    def _do(self, method: str, kwargs: dict[str, Any]) -> Any:
        return getattr(self._collection(), method)(**kwargs)

    def get(self, keys: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for i in range(0, len(keys), PAGE):
            got = self._call("get", ids=keys[i : i + PAGE], include=["metadatas"])
            for k, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                if meta and meta.get("v"):
                    out[k] = base64.b64decode(str(meta["v"]))
        return out

    def has(self, keys: list[str]) -> set[str]:
        out: set[str] = set()
        for i in range(0, len(keys), PAGE):
            out.update(self._call("get", ids=keys[i : i + PAGE], include=[])["ids"])
        return out

    def put(self, blobs: dict[str, bytes]) -> None:
        keys = list(blobs)
        for i in range(0, len(keys), PAGE):
            page = keys[i : i + PAGE]
            metas = [{"v": base64.b64encode(blobs[k]).decode("ascii")} for k in page]
            self._call("upsert", ids=page, embeddings=[[1.0]] * len(page), metadatas=metas)

    def delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), PAGE):
            self._call("delete", ids=keys[i : i + PAGE])

    def clear(self) -> None:
        raise NotImplementedError  # the store drops and recreates the collection
