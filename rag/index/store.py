"""Persistent state of one corpus index: Chroma chunks, a manifest of documents, BM25.

Layout under ``settings.index_dir`` with the embedded store (the default)::

    chroma/                       Chroma PersistentClient (one collection per corpus)
    <collection>/manifest.json    source -> content hash, file stat, chunk count, title
    <collection>/bm25/            BM25 over the same chunks, tagged with the manifest's fingerprint
    <collection>/write.lock       held by the one process allowed to write

With a Chroma server (``settings.chroma_url``) the manifest is a second collection on the
server, ``<collection>-manifest``, so every machine that uses the server sees the same corpus;
``index_dir`` then only holds the BM25 cache (rebuilt from the server's chunk texts whenever
the shared manifest's fingerprint changes) and the writer lock.

The manifest is written only after the chunks it lists are in Chroma, so after a crash it
never claims more than Chroma holds; ``repair`` deletes what it does not claim.
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
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from rag.ingest.chunking import CHUNKER, chunk_id
from rag.errors import IndexBusyError, ReadOnlyError, StoreError
from rag.index.lexical import BM25Index
from rag.language.sentence_vectors import UNITS_VERSION
from rag.settings import Settings
from rag.types import Chunk
from rag.index.unit_store import FILE as UNITS_FILE
from rag.index.unit_store import LocalUnits, ServerUnits

if TYPE_CHECKING:
    from rag.index.lease import ServerLease

# 2: entries carry ctime_ns. 3: chunk ids name the document version (``chunk_id``). Older
# formats are read and upgraded on the next write (chunks re-keyed, their vectors reused).
MANIFEST_VERSION = 3
OLDEST_READABLE = 1
PAGE = 1000  # records per Chroma request: under the server's batch limit
MAX_EXTRA = 2000  # how much deeper a dense query looks past chunks a running update has not committed
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


_DAMAGE = ("malformed", "not a database", "no such table", "disk i/o error", "database corrupt", "unable to open")


@contextlib.contextmanager
def damaged_store(index_dir: Path) -> Iterator[None]:
    """Turn a damaged embedded database into one line that names the folder and the fix."""
    try:
        yield
    except StoreError:
        raise
    except Exception as err:
        text = str(err).lower()
        if "database or disk is full" in text or "no space left" in text or _nearly_full(index_dir):
            raise StoreError(
                f"no space left for the index in {index_dir}: free some space and run rag index again"
            ) from None
        if not any(mark in text for mark in _DAMAGE):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StoreError(
            f"the index in {index_dir} is damaged ({first}); `rag index --rebuild` moves it aside and rebuilds it"
        ) from None


@contextlib.contextmanager
def folder_lock(folder: Path, corpus: str, kind: str = "index", wait: float = 0.0) -> Iterator[None]:
    """The writer lock of one collection's folder (``write.lock``): exclusive across processes.

    ``kind`` is who writes (``index``, ``ask``); an ``index`` waits up to ``wait`` seconds for an
    ``ask`` holder. Another holder is ``IndexBusyError``; a folder nobody may write in, ``ReadOnlyError``.
    """
    path = folder / "write.lock"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fh = path.open("a+")
    except OSError as err:
        if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        raise ReadOnlyError(
            f"the index in {folder} is read-only ({err.strerror}): questions are answered from it as it "
            "is; indexing needs write access to it (or another RAG_INDEX_DIR)"
        ) from None
    with fh:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _lock_holder(path)
                if kind == "index" and holder == "ask" and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                who = "an answer bringing it up to date" if holder == "ask" else "another process"
                raise IndexBusyError(f"index busy: {who} is indexing {corpus}; try again when it finishes") from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"kind": kind, "pid": os.getpid()}))
        fh.flush()
        yield


def forget_client(path: Path) -> None:
    """Drop this process's cached embedded client of ``path`` (its folder was moved or replaced)."""
    key = str(path.resolve())
    with _clients_lock:
        if _clients.pop(key, None) is not None:
            from chromadb.api.shared_system_client import SharedSystemClient

            SharedSystemClient.clear_system_cache()


def _lock_holder(path: Path) -> str:
    """What the process holding the write lock said it is doing (``index`` or ``ask``)."""
    try:
        return str(json.loads(path.read_text(encoding="utf-8") or "{}").get("kind", "index"))
    except (OSError, ValueError, AttributeError):
        return "index"


def _nearly_full(index_dir: Path) -> bool:
    """Chroma reports a full disk as a failed compaction; the free space says what it was."""
    try:
        return shutil.disk_usage(index_dir).free < 1_000_000
    except OSError:
        return False


def _writable(path: Path) -> bool:
    """Whether this process may write in ``path`` (True when it does not exist yet)."""
    return not path.exists() or os.access(path, os.W_OK)


def _snapshot(index_dir: Path, name: str) -> Path:
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


def looks_damaged(index_dir: Path) -> bool:
    """Whether the embedded database of ``index_dir`` fails SQLite's own check (read-only)."""
    import sqlite3

    db = index_dir / "chroma" / "chroma.sqlite3"
    if not db.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
            return str(con.execute("PRAGMA quick_check").fetchone()[0]) != "ok"
    except sqlite3.Error:
        return True


def move_aside(index_dir: Path, label: str = "damaged") -> Path | None:
    """Rename an index folder to ``<name>.<label>-<time>`` (``damaged``, or ``previous`` for a
    sound one a rebuild replaced); never deletes it."""
    if not index_dir.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = index_dir.with_name(f"{index_dir.name}.{label}-{stamp}")
    n = 1
    while dest.exists():
        dest = index_dir.with_name(f"{index_dir.name}.{label}-{stamp}-{n}")
        n += 1
    os.replace(index_dir, dest)
    return dest


@dataclass(slots=True)
class DocEntry:
    """One document of the manifest (slotted: no dict per entry, at 80,000 documents 4 MB less)."""

    hash: str
    chunks: int
    title: str = ""
    size: int = -1
    mtime_ns: int = -1
    ctime_ns: int = -1  # changes on every write, even one that restores the mtime (touch -r)

    @classmethod
    def parse(cls, raw: object) -> DocEntry | None:
        """An entry read from a manifest, or None when it is damaged (the document is re-indexed)."""
        if not isinstance(raw, dict):
            return None
        try:
            entry = cls(**raw)
        except TypeError:
            return None
        ints = (entry.chunks, entry.size, entry.mtime_ns, entry.ctime_ns)
        if not all(type(v) is int for v in ints) or entry.chunks < 0:
            return None
        if not isinstance(entry.hash, str) or len(entry.hash) != 64 or not isinstance(entry.title, str):
            return None
        return entry

    def chunk_ids(self, source: str) -> list[str]:
        return [chunk_id(source, i, self.hash) for i in range(self.chunks)]

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def as_tuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)


_ENTRY_KEYS = frozenset(("hash", "chunks"))


def _entry_or_dict(raw: dict[str, Any]) -> Any:
    """For ``json.loads``: a dict shaped like a manifest entry as its ``DocEntry`` (a damaged one
    stays a dict, which ``DocEntry.parse`` then rejects)."""
    if raw.keys() >= _ENTRY_KEYS:
        entry = DocEntry.parse(raw)
        if entry is not None:
            return entry
    return raw


@dataclass
class Manifest:
    config: dict[str, Any]
    documents: dict[str, DocEntry] = field(default_factory=dict)
    format: int = MANIFEST_VERSION  # the format it was read in; older ones are upgraded on write

    def expected_ids(self) -> dict[str, tuple[str, str]]:
        """chunk id -> (source, document hash) for every chunk the manifest claims."""
        out: dict[str, tuple[str, str]] = {}
        for source, entry in self.documents.items():
            out.update(dict.fromkeys(entry.chunk_ids(source), (source, entry.hash)))
        return out

    def fingerprint(self) -> str:
        h = hashlib.sha1(json.dumps(self.config, sort_keys=True).encode())
        for source in sorted(self.documents):
            e = self.documents[source]
            h.update(f"{source}\0{e.hash}\0{e.chunks}\n".encode("utf-8", "surrogatepass"))
        return h.hexdigest()


class IndexStore:
    """Read and write access to the index of one corpus."""

    def __init__(self, corpus: Path, settings: Settings, model_id: str) -> None:
        self.corpus = corpus
        self.settings = settings
        self.name = collection_name(corpus, settings)
        # A read-only index (a read-only mount, a folder of another user) is answered from a
        # private copy: Chroma writes to its database even to open it. Nothing indexes into it.
        self.read_only = not settings.chroma_url and not _writable(settings.index_dir)
        self.root = _snapshot(settings.index_dir, self.name) if self.read_only else settings.index_dir
        self.dir = self.root / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = {
            "model": model_id,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap": settings.chunk_overlap,
            "chunker": CHUNKER,
            "sentences": f"{settings.sentence_vectors}/{UNITS_VERSION}",
        }
        self.url = settings.chroma_url or None
        if self.url:
            self.client = chroma_http_client(self.url, settings.chroma_token.get_secret_value())
        else:
            self.client = chroma_client(self.root / "chroma")
        self._saved: dict[str, tuple[Any, ...]] = {}  # server manifest as last read or written
        self._saved_config: dict[str, Any] | None = None
        with remote_errors(self.url):
            self._open_collection()
        self.units: LocalUnits | ServerUnits = (
            ServerUnits(lambda: self.sentence_collection, self._reading)
            if self.url
            else LocalUnits(self.dir / UNITS_FILE)
        )
        self._bm25: BM25Index | None = None
        self._bm25_saved = False
        self._lease: ServerLease | None = None

    def reconnect(self) -> None:
        """See what other processes wrote since this store opened its embedded database."""
        if not self.url:
            if self.read_only:  # the read-only original changed: copy it again
                self.root = _snapshot(self.settings.index_dir, self.name)
                self.dir = self.root / self.name
                self.units = LocalUnits(self.dir / UNITS_FILE)
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

    # -- manifest ---------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def load_manifest(self) -> Manifest:
        if self.url:
            return self._reading(self._load_server_manifest)
        try:
            # Entries become DocEntry objects as they are decoded, so the decoded dicts of a large
            # manifest never all exist at once beside them (half the peak at 100,000 documents).
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"), object_hook=_entry_or_dict)
        except (OSError, ValueError):
            return Manifest(config=dict(self.config))
        if not isinstance(data, dict):
            return Manifest(config=dict(self.config))  # foreign or damaged: rebuilt (vectors reused)
        self._check_version(data.get("version"))
        if data.get("version") not in range(OLDEST_READABLE, MANIFEST_VERSION + 1):
            return Manifest(config=dict(self.config))
        config, documents = data.get("config"), data.get("documents")
        if not isinstance(config, dict) or not isinstance(documents, dict):
            return Manifest(config=dict(self.config))
        parsed = {s: e if isinstance(e, DocEntry) else DocEntry.parse(e) for s, e in documents.items()}
        # A damaged entry is dropped: its chunks become orphans, which ``repair`` clears (reusing
        # their vectors) and the document is indexed again.
        docs = {s: e for s, e in parsed.items() if e is not None}
        return Manifest(config=config, documents=docs, format=data["version"])

    def state(self) -> object:
        """Changes whenever another process saves the manifest; cheap enough to poll."""
        if self.url:
            with remote_errors(self.url):
                col = self.client.get_collection(f"{self.name}-manifest", embedding_function=None)
            return (col.id, (col.metadata or {}).get("generation"))
        try:  # of a read-only index, the original's manifest: a change there is copied again
            st = (self.settings.index_dir / self.name / "manifest.json").stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _check_version(self, version: object) -> None:
        """Refuse an index written by a newer rag, in one line; older formats are read and upgraded."""
        if isinstance(version, int) and not isinstance(version, bool) and version > MANIFEST_VERSION:
            raise StoreError(
                f"the index in {self.url or self.dir} has format {version}, newer than this rag reads "
                f"({MANIFEST_VERSION}): upgrade rag, or `rag index --rebuild` to build one this version reads"
            )

    def _load_server_manifest(self) -> Manifest:
        meta = self.manifest_collection.metadata or {}
        self._check_version(meta.get("rag_manifest"))
        config = json.loads(str(meta["config"])) if "config" in meta else dict(self.config)
        docs: dict[str, DocEntry] = {}
        for got in self._pages("manifest_collection", ["metadatas"]):
            for source, m in zip(got["ids"], got["metadatas"] or [], strict=False):
                m = m or {}
                entry = DocEntry.parse({"ctime_ns": -1, **m})
                if entry is not None:
                    docs[source] = entry
        self._saved = {source: e.as_tuple() for source, e in docs.items()}
        self._saved_config = config if "config" in meta else None
        version = meta.get("rag_manifest")
        return Manifest(config=config, documents=docs, format=version if isinstance(version, int) else 1)

    def _save_server_manifest(self, manifest: Manifest) -> None:
        """Write only what changed since the last read or write: one request per 1,000 entries."""
        current = {source: e.as_tuple() for source, e in manifest.documents.items()}
        changed = [source for source, values in current.items() if self._saved.get(source) != values]
        gone = [source for source in self._saved if source not in current]
        col = self.manifest_collection
        for i in range(0, len(gone), PAGE):
            col.delete(ids=gone[i : i + PAGE])
        for i in range(0, len(changed), PAGE):
            ids = changed[i : i + PAGE]
            col.upsert(
                ids=ids,
                embeddings=[[1.0]] * len(ids),  # Chroma needs a vector; the manifest is never searched
                metadatas=[manifest.documents[source].as_dict() for source in ids],
            )
        if changed or gone or self._saved_config != manifest.config or manifest.format != MANIFEST_VERSION:
            generation = uuid.uuid4().hex  # a counter could repeat across machines; a uuid cannot
            col.modify(
                metadata={
                    "rag_manifest": MANIFEST_VERSION,
                    "config": json.dumps(manifest.config, sort_keys=True),
                    "generation": generation,
                }
            )
        self._saved = current
        self._saved_config = dict(manifest.config)

    def save_manifest(self, manifest: Manifest) -> None:
        if self.url:
            self.fence()
            self._reading(lambda: self._save_server_manifest(manifest))
            manifest.format = MANIFEST_VERSION
            return
        data = {
            "version": MANIFEST_VERSION,
            "corpus": str(self.corpus),
            "config": manifest.config,
            "documents": {s: e.as_dict() for s, e in sorted(manifest.documents.items())},
        }
        tmp = self.manifest_path.with_suffix(".json.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.manifest_path)
        manifest.format = MANIFEST_VERSION

    # -- writing ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def write_lock(self, kind: str = "index", wait: float = 0.0) -> Iterator[None]:
        """Exclusive writer lock; a second writer fails at once with a clear message.

        ``kind`` says who writes: ``index`` (a user's ``rag index``) or ``ask`` (an answer bringing
        the index up to date on first use). A user's run waits up to ``wait`` seconds for an
        ``ask`` to finish, instead of failing because of it.
        """
        if self.read_only:
            raise ReadOnlyError(
                f"the index in {self.settings.index_dir} is read-only: questions are answered from it as it is; "
                "indexing needs write access to it (or another RAG_INDEX_DIR)"
            )
        with folder_lock(self.dir, str(self.corpus), kind, wait):
            if not self.url:
                yield
                return
            from rag.index.lease import ServerLease  # other machines writing to the same server collection

            with (
                remote_errors(self.url),
                ServerLease(self.client, self.name, self.settings.lease_seconds).hold(kind, wait) as lease,
            ):
                self._lease = lease
                try:
                    yield
                finally:
                    self._lease = None

    def fence(self) -> None:
        """Before a write to a server collection: stop if this writer no longer holds its lease."""
        if self._lease is not None:
            with remote_errors(self.url):
                self._lease.check()

    def reset(self) -> None:
        """Drop every chunk (used when the chunking or the model changed)."""
        self.fence()
        with remote_errors(self.url):
            self.client.delete_collection(self.name)
            if self.url:
                self.client.delete_collection(f"{self.name}-sentences")
                self.client.delete_collection(f"{self.name}-manifest")
                self._saved, self._saved_config = {}, None
            self._open_collection()
        if not self.url:
            self.units.clear()
        self._bm25 = None

    def stored_chunks(self) -> dict[str, dict[str, Any]]:
        """chunk id -> metadata, for every chunk Chroma holds (paged, for large collections)."""
        out: dict[str, dict[str, Any]] = {}
        for got in self._pages("collection", ["metadatas"]):
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
        for got in self._pages("collection", ["metadatas"]):
            for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                digest = str((meta or {}).get("doc_hash", ""))
                out[cid] = shared.setdefault(digest, digest)
        return out

    def delete_ids(self, ids: list[str]) -> None:
        """Delete chunks, and the unit vectors of texts no chunk left holds."""
        if ids:
            self.fence()
        for i in range(0, len(ids), PAGE):
            batch = ids[i : i + PAGE]
            got = self._call("get", ids=batch, include=["metadatas"])
            hashes = list({str((m or {}).get("text_hash", "")) for m in got["metadatas"] or []} - {""})
            self._call("delete", ids=batch)
            if hashes:
                kept = self._call("get", where={"text_hash": {"$in": hashes}}, include=["metadatas"])
                used = {str((m or {}).get("text_hash", "")) for m in kept["metadatas"] or []}
                gone = [h for h in hashes if h not in used]
                if gone:
                    self.units.delete(gone)

    def has_sentence_vectors(self, keys: list[str]) -> set[str]:
        return self.units.has(list(dict.fromkeys(keys))) if keys else set()  # a server refuses repeats

    def delete_source(self, source: str) -> None:
        self.fence()
        self._reading(lambda: self.vector_store.delete(ref_doc_id=source))

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

    def add_chunks(
        self, chunks: list[Chunk], vectors: np.ndarray, doc_hashes: dict[str, str], titles: dict[str, str]
    ) -> None:
        from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode

        self.fence()
        nodes: list[BaseNode] = []
        for chunk, vec in zip(chunks, vectors, strict=True):
            node = TextNode(
                id_=chunk.id,
                text=chunk.text,
                embedding=vec.tolist(),
                start_char_idx=chunk.start,
                end_char_idx=chunk.end,
                metadata={
                    "source": chunk.source,
                    "index": chunk.index,
                    "start": chunk.start,
                    "end": chunk.end,
                    "doc_hash": doc_hashes[chunk.source],
                    "text_hash": text_hash(chunk.embed_text),
                    "title": titles.get(chunk.source, ""),
                    "headings": json.dumps(chunk.headings, ensure_ascii=False) if chunk.headings else "",
                    "opens": chunk.opens,
                },
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=chunk.source)
            nodes.append(node)
        for i in range(0, len(nodes), PAGE):
            batch = nodes[i : i + PAGE]
            self._reading(partial(_add_nodes, self, batch))

    # -- reading ----------------------------------------------------------------------------
    def _reading(self, read: Callable[[], T]) -> T:
        """Run a read; if another engine or process dropped and recreated the collection (a
        chunking change rebuilds it), reopen it once and read again instead of failing."""
        from chromadb.errors import NotFoundError

        with remote_errors(self.url):
            try:
                return read()
            except NotFoundError:
                self._open_collection()
                return read()

    def _pages(self, collection: str, include: list[str]) -> Iterator[dict[str, Any]]:
        """Every record of ``self.<collection>``, ``PAGE`` at a time (large collections)."""
        offset = 0
        while True:
            got = self._reading(partial(self._page, collection, include, offset))
            yield got
            if len(got["ids"]) < PAGE:
                return
            offset += PAGE

    def _page(self, collection: str, include: list[str], offset: int) -> Any:
        return getattr(self, collection).get(include=include, limit=PAGE, offset=offset)

    def _call(self, method: str, **kwargs: Any) -> Any:
        """``self.collection.<method>(**kwargs)``, looked up at call time so a reopen takes effect."""
        return self._reading(lambda: getattr(self.collection, method)(**kwargs))

    def count(self) -> int:
        return int(self._reading(lambda: self.collection.count()))

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

    def sentence_vectors(self, keys: list[str]) -> dict[str, bytes]:
        """The packed unit vectors stored for these chunk text hashes (those that have them)."""
        return self.units.get(list(dict.fromkeys(keys))) if keys else {}  # two chunks may share a text

    def add_sentence_vectors(self, packed: dict[str, bytes]) -> None:
        if packed:
            self.fence()
            self.units.put(packed)

    def drop_sentence_vectors(self) -> None:
        """Forget every unit vector (they were made another way): the next run makes them again."""
        self.fence()
        with remote_errors(self.url):
            if self.url:
                self.client.delete_collection(f"{self.name}-sentences")
                self._open_collection()
            else:
                self.units.clear()

    def get_chunks(self, ids: list[str]) -> dict[str, Chunk]:
        if not ids:
            return {}
        got = self._reading(lambda: self.collection.get(ids=ids, include=["documents", "metadatas"]))
        return {
            cid: _node_chunk(cid, text or "", meta or {})
            for cid, text, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False)
        }

    def embeddings(self, ids: list[str]) -> dict[str, np.ndarray]:
        got = self._reading(lambda: self.collection.get(ids=ids, include=["embeddings"]))
        return {cid: np.asarray(emb, dtype=np.float32) for cid, emb in zip(got["ids"], got["embeddings"], strict=False)}

    def all_texts(self, embedded: bool = True) -> tuple[list[str], list[str]]:
        """Every chunk's id and the text BM25 indexes (its section path, then its text); with
        ``embedded=False``, the chunk's own text, the document's characters at its offsets."""
        ids: list[str] = []
        texts: list[str] = []
        for got in self._pages("collection", ["documents", "metadatas"]):
            ids.extend(got["ids"])
            for cid, t, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False):
                texts.append(_node_chunk(cid, t or "", meta or {}).embed_text if embedded else t or "")
        return ids, texts

    def forget_bm25(self) -> None:
        """Drop the BM25 index held in memory, so the next ``bm25`` reloads (or rebuilds and saves) it."""
        self._bm25, self._bm25_saved = None, False

    def bm25(self, manifest: Manifest, save: bool = True) -> BM25Index:
        """The BM25 index matching ``manifest``, rebuilt from Chroma when it is stale or missing.

        Only the writer saves a rebuilt index (``save``); a reader keeps its rebuild in memory.
        """
        fp = manifest.fingerprint()
        if self._bm25 is None or self._bm25.fingerprint != fp:
            loaded = BM25Index.load(self.dir / "bm25")
            self._bm25_saved = loaded is not None and loaded.fingerprint == fp
            if not self._bm25_saved:
                ids, texts = self.all_texts()
                claimed = manifest.expected_ids()  # not chunks a running update has not committed
                kept = [i for i, cid in enumerate(ids) if cid in claimed]
                loaded = BM25Index.build([ids[i] for i in kept], [texts[i] for i in kept], fp)
            self._bm25 = loaded
        assert self._bm25 is not None
        if save and not self._bm25_saved:
            self._bm25.save(self.dir / "bm25")
            self._bm25_saved = True
        return self._bm25


def _add_nodes(store: IndexStore, nodes: list[Any]) -> None:
    store.vector_store.add(nodes)


def text_hash(text: str) -> str:
    """Key of a chunk's vector: the same text under the same model always has the same vector."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


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
