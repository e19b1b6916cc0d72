"""The Chroma side of an index: clients (one per folder or server), the collections of one corpus, and reads.

``Collections`` opens a corpus's chunk collection (and, on a server, its sentence and manifest
collections), reopens it when another process recreated it, pages through large ones, and
answers the reads every question makes. ``rag.index.store.IndexStore`` adds the writes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Collection, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rag.errors import StoreError
from rag.settings import Settings
from rag.types import Chunk

PAGE = 1000  # records per Chroma request: under the server's batch limit
MAX_EXTRA = 2000  # how much deeper a dense query looks past chunks a running update has not committed
# The manifest's format (``rag.index.manifest``), which a server's manifest collection is created with.
# 2: entries carry ctime_ns. 3: chunk ids name the document version (``chunk_id``). Older
# formats are read and upgraded on the next write (chunks re-keyed, their vectors reused).
MANIFEST_VERSION = 3
T = TypeVar("T")
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()
_SNAPSHOTS: list[Path] = []  # copies of read-only indexes made by this process


def collection_name(corpus: Path, settings: Settings) -> str:
    """``<corpus name>-<hash of its absolute path>``: one collection per corpus."""
    if settings.collection:
        return settings.collection
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", corpus.stem or "corpus").strip("-._")[:40] or "corpus"
    digest = hashlib.sha1(str(corpus).encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug}-{digest}"


@contextlib.contextmanager
def opening_lock(path: Path) -> Iterator[None]:
    """Serialise, across processes, the creation of the Chroma database and of collections.

    Two processes opening a brand-new index at once would otherwise both run Chroma's schema
    set-up, and the loser fails with a database error instead of the clear "index busy".
    """
    path.mkdir(parents=True, exist_ok=True)
    try:
        fh = (path / "open.lock").open("a+")
    except OSError as err:
        if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        yield  # a read-only index: nobody can set anything up in it, so there is nothing to serialise
        return
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # held for the short time it takes to open
        yield


def chroma_client(path: Path, fresh: bool = False) -> Any:
    """One PersistentClient per folder per process (Chroma requires it), telemetry off.

    An embedded client does not see what another process writes to the same folder after it
    opened it (its vector segment stays as loaded). ``fresh`` makes a new client that reads the
    folder again; clients handed out before keep working, on their old view, until replaced.
    """
    if fresh:
        forget_client(path)  # forget, without stopping, the cached client and systems
    key = str(path.resolve())
    with _clients_lock:
        if key not in _clients:
            import chromadb

            with opening_lock(path.parent):
                _clients[key] = chromadb.PersistentClient(
                    path=key, settings=chromadb.Settings(anonymized_telemetry=False, allow_reset=False)
                )
        return _clients[key]


def chroma_http_client(url: str, token: str = "") -> Any:
    """A client of the Chroma server at ``url`` (http or https, default port 8000), telemetry off."""
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise StoreError(f"invalid Chroma URL {url!r}: expected http(s)://host[:port]")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 8000)
    except ValueError:
        raise StoreError(f"invalid Chroma URL {url!r}: bad port") from None
    key = f"{parts.scheme}://{parts.hostname}:{port}\0{token}"
    with _clients_lock:
        if key not in _clients:
            import chromadb

            headers = {"Authorization": f"Bearer {token}"} if token else None
            with remote_errors(url):
                _clients[key] = chromadb.HttpClient(
                    host=parts.hostname,
                    port=port,
                    ssl=parts.scheme == "https",
                    headers=headers,
                    settings=chromadb.Settings(anonymized_telemetry=False),
                )
        return _clients[key]


@contextlib.contextmanager
def remote_errors(url: str | None) -> Iterator[None]:
    """Turn a Chroma server's connection failures into one clear ``StoreError`` line."""
    if url is None:
        yield
        return
    import httpx

    try:
        yield
    except httpx.TransportError as err:
        raise StoreError(f"cannot reach the Chroma server at {url}: {err or type(err).__name__}") from None
    except ValueError as err:  # chromadb reports an unreachable server at connect as ValueError
        if "connect" in str(err).lower():
            raise StoreError(f"cannot reach the Chroma server at {url}: {str(err).splitlines()[0]}") from None
        raise


def forget_client(path: Path) -> None:
    """Drop this process's cached embedded client of ``path`` (its folder was moved or replaced)."""
    key = str(path.resolve())
    with _clients_lock:
        if _clients.pop(key, None) is not None:
            from chromadb.api.shared_system_client import SharedSystemClient

            SharedSystemClient.clear_system_cache()


def writable(path: Path) -> bool:
    """Whether this process may write in ``path`` (True when it does not exist yet)."""
    return not path.exists() or os.access(path, os.W_OK)


def snapshot(index_dir: Path, name: str) -> Path:
    """A private, writable copy of a read-only index's database and ``name``'s folder, removed at exit."""
    import atexit
    import sys
    import tempfile

    copy = Path(tempfile.mkdtemp(prefix="rag-readonly-index-"))
    if not _SNAPSHOTS:
        atexit.register(remove_snapshots)
    _SNAPSHOTS.append(copy)
    locks = shutil.ignore_patterns("*.lock", "*.tmp")
    for part in ("chroma", name):
        if (index_dir / part).is_dir():
            shutil.copytree(index_dir / part, copy / part, ignore=locks)
    print(f"rag: the index in {index_dir} is read-only; answering from a copy of it", file=sys.stderr)
    return copy


def remove_snapshots() -> None:
    """Delete this process's copies of read-only indexes (at exit; ``rag ask`` calls it before ``os._exit``)."""
    while _SNAPSHOTS:
        shutil.rmtree(_SNAPSHOTS.pop(), ignore_errors=True)


class Collections:
    """The Chroma collections of one corpus's index, and every read of them."""

    def __init__(self, corpus: Path, settings: Settings) -> None:
        self.corpus = corpus
        self.settings = settings
        self.name = collection_name(corpus, settings)
        # A read-only index (a read-only mount, a folder of another user) is answered from a
        # private copy: Chroma writes to its database even to open it. Nothing indexes into it.
        self.read_only = not settings.chroma_url and not writable(settings.index_dir)
        self.root = snapshot(settings.index_dir, self.name) if self.read_only else settings.index_dir
        self.dir = self.root / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.url = settings.chroma_url or None
        if self.url:
            self.client = chroma_http_client(self.url, settings.chroma_token.get_secret_value())
        else:
            self.client = chroma_client(self.root / "chroma")
        with remote_errors(self.url):
            self._open_collection()

    def reconnect(self) -> None:
        """See what other processes wrote since this store opened its embedded database."""
        if not self.url:
            if self.read_only:  # the read-only original changed: copy it again
                self.root = snapshot(self.settings.index_dir, self.name)
                self.dir = self.root / self.name
            self.client = chroma_client(self.root / "chroma", fresh=True)
            self._open_collection()

    def _open_collection(self) -> None:
        with opening_lock(self.root):
            self.collection = self.client.get_or_create_collection(
                self.name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
            )
            if self.url:
                # Each chunk's unit vectors (``rag.index.unit_store``); the one-number embedding only
                # satisfies Chroma.
                self.sentence_collection = self.client.get_or_create_collection(
                    f"{self.name}-sentences", embedding_function=None
                )
                self.manifest_collection = self.client.get_or_create_collection(
                    f"{self.name}-manifest", embedding_function=None, metadata={"rag_manifest": MANIFEST_VERSION}
                )
        self._vector_store: Any = None

    @property
    def vector_store(self) -> Any:
        """llama-index's Chroma store over the collection: it writes the nodes (loaded on first write).

        Questions read the collection directly: llama-index's import (about 0.9 s) is not on the
        path of a cold question.
        """
        if self._vector_store is None or self._vector_store._collection is not self.collection:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._vector_store = ChromaVectorStore(chroma_collection=self.collection)
        return self._vector_store

    def reading(self, read: Callable[[], T]) -> T:
        """Run a read; if another engine or process dropped and recreated the collection (a
        chunking change rebuilds it), reopen it once and read again instead of failing."""
        from chromadb.errors import NotFoundError

        with remote_errors(self.url):
            try:
                return read()
            except NotFoundError:
                self._open_collection()
                return read()

    def pages(self, collection: str, include: list[str]) -> Iterator[dict[str, Any]]:
        """Every record of ``self.<collection>``, ``PAGE`` at a time (large collections)."""
        offset = 0
        while True:
            got = self.reading(partial(self._page, collection, include, offset))
            yield got
            if len(got["ids"]) < PAGE:
                return
            offset += PAGE

    def _page(self, collection: str, include: list[str], offset: int) -> Any:
        return getattr(self, collection).get(include=include, limit=PAGE, offset=offset)

    def _call(self, method: str, **kwargs: Any) -> Any:
        """``self.collection.<method>(**kwargs)``, looked up at call time so a reopen takes effect."""
        return self.reading(lambda: getattr(self.collection, method)(**kwargs))

    def count(self) -> int:
        return int(self.reading(lambda: self.collection.count()))

    def stored_chunks(self) -> dict[str, dict[str, Any]]:
        """chunk id -> metadata, for every chunk Chroma holds (paged, for large collections)."""
        out: dict[str, dict[str, Any]] = {}
        for got in self.pages("collection", ["metadatas"]):
            for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                out[cid] = dict(meta or {})
        return out

    def stored_hashes(self) -> dict[str, str]:
        """chunk id -> hash of the document version it was cut from, for every chunk Chroma holds.

        What the check on every first ``ask`` needs, without each chunk's metadata: at 100,000
        chunks reading the full metadata raised that check's memory peak from 716 to 976 MiB.
        """
        out: dict[str, str] = {}
        shared: dict[str, str] = {}  # one string per document version, not one per chunk
        for got in self.pages("collection", ["metadatas"]):
            for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                digest = str((meta or {}).get("doc_hash", ""))
                out[cid] = shared.setdefault(digest, digest)
        return out

    def vectors_of(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Vectors of the chunks ``ids``, keyed by the hash of their text."""
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(ids), PAGE):
            out.update(self._vectors_by_text_hash(ids=ids[i : i + PAGE]))
        return out

    def vectors_by_text(self, text_hashes: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks whose text hashes to one of ``text_hashes``.

        Indexing asks this before encoding, so text that is already embedded anywhere in the
        collection (an edited document's unchanged chunks, a renamed file) is never encoded again.
        """
        out: dict[str, np.ndarray] = {}
        wanted = list(dict.fromkeys(text_hashes))
        for i in range(0, len(wanted), PAGE):
            out.update(self._vectors_by_text_hash(where={"text_hash": {"$in": wanted[i : i + PAGE]}}))
        return out

    def _vectors_by_text_hash(self, **query: Any) -> dict[str, np.ndarray]:
        """The vectors of the chunks ``query`` selects, keyed by ``text_hash`` (one text, one vector)."""
        got = self._call("get", include=["embeddings", "metadatas"], **query)
        embeddings = got["embeddings"] if got["embeddings"] is not None else []
        out: dict[str, np.ndarray] = {}
        for meta, emb in zip(got["metadatas"] or [], embeddings, strict=False):
            key = str((meta or {}).get("text_hash", ""))
            if key:
                out[key] = np.asarray(emb, dtype=np.float32)
        return out

    def query_dense(
        self, vector: np.ndarray, k: int, claimed: Collection[str], sources: tuple[str, ...] = ()
    ) -> list[tuple[Chunk, float]]:
        """The ``k`` nearest chunks among ``claimed`` (the reader's manifest), with their cosine similarity.

        While an update runs, the collection also holds chunks no saved manifest claims yet (and,
        until it ends, the replaced versions). A first query asks for ``k``; only when one of them
        is unclaimed does a second look that much deeper. Counting the collection every time
        instead cost 10 ms a question at 100,000 chunks.
        """
        if k <= 0:
            return []
        out, complete = self._nearest(vector, k, claimed, sources)
        if not complete:
            extra = min(max(0, self.count() - len(claimed)), MAX_EXTRA)
            if extra:
                out, _ = self._nearest(vector, k + extra, claimed, sources)
        return out[:k]

    def _nearest(
        self, vector: np.ndarray, n: int, claimed: Collection[str], sources: tuple[str, ...]
    ) -> tuple[list[tuple[Chunk, float]], bool]:
        """The claimed chunks among the ``n`` nearest, and whether none of those was unclaimed."""
        where = {"source": {"$in": list(sources)}} if sources else None
        res = self._call(
            "query",
            query_embeddings=[vector.tolist()],
            n_results=n,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        out = []
        rows = zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=False)
        for cid, text, meta, distance in rows:
            if cid in claimed:  # cosine space: the distance is 1 - cosine
                out.append((_node_chunk(cid, text or "", meta or {}), 1.0 - float(distance)))
        return out, len(out) == len(res["ids"][0])

    def get_chunks(self, ids: list[str]) -> dict[str, Chunk]:
        if not ids:
            return {}
        got = self.reading(lambda: self.collection.get(ids=ids, include=["documents", "metadatas"]))
        return {
            cid: _node_chunk(cid, text or "", meta or {})
            for cid, text, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False)
        }

    def embeddings(self, ids: list[str]) -> dict[str, np.ndarray]:
        got = self.reading(lambda: self.collection.get(ids=ids, include=["embeddings"]))
        return {cid: np.asarray(emb, dtype=np.float32) for cid, emb in zip(got["ids"], got["embeddings"], strict=False)}

    def all_texts(self, embedded: bool = True) -> tuple[list[str], list[str]]:
        """Every chunk's id and the text BM25 indexes (its section path, then its text); with
        ``embedded=False``, the chunk's own text, the document's characters at its offsets."""
        ids: list[str] = []
        texts: list[str] = []
        for got in self.pages("collection", ["documents", "metadatas"]):
            ids.extend(got["ids"])
            for cid, t, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False):
                texts.append(_node_chunk(cid, t or "", meta or {}).embed_text if embedded else t or "")
        return ids, texts


def _node_chunk(cid: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(
        id=cid,
        source=str(meta.get("source", "")),
        index=int(meta.get("index", 0)),
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        text=text,
        headings=_headings(meta.get("headings")),
        opens=str(meta.get("opens") or ""),
    )


def _headings(raw: object) -> tuple[tuple[int, str], ...]:
    """The heading path stored with a chunk; anything malformed reads as none."""
    if not isinstance(raw, str) or not raw:
        return ()
    try:
        data = json.loads(raw)
        return tuple((int(level), str(title)) for level, title in data)
    except (ValueError, TypeError):
        return ()
