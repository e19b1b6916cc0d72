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
import shutil
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import IndexBusyError, ReadOnlyError, StoreError
from rag.index.chroma import PAGE, Collections, remote_errors
from rag.index.lexical import BM25Index
from rag.index.manifest import Manifest, ManifestStore
from rag.index.unit_store import FILE as UNITS_FILE
from rag.index.unit_store import LocalUnits, ServerUnits
from rag.ingest.chunking import CHUNKER
from rag.language.sentence_vectors import UNITS_VERSION
from rag.settings import Settings
from rag.types import Chunk

if TYPE_CHECKING:
    from rag.index.lease import ServerLease

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


class IndexStore(Collections):
    """Read and write access to the index of one corpus: the collections' reads, and every write."""

    def __init__(self, corpus: Path, settings: Settings, model_id: str) -> None:
        super().__init__(corpus, settings)
        self.config = {
            "model": model_id,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap": settings.chunk_overlap,
            "chunker": CHUNKER,
            "sentences": f"{settings.sentence_vectors}/{UNITS_VERSION}",
        }
        self.manifests = ManifestStore(self, self.config, self.fence)
        self.units: LocalUnits | ServerUnits = (
            ServerUnits(lambda: self.sentence_collection, self.reading)
            if self.url
            else LocalUnits(self.dir / UNITS_FILE)
        )
        self._bm25: BM25Index | None = None
        self._bm25_saved = False
        self._lease: ServerLease | None = None

    def reconnect(self) -> None:
        """See what other processes wrote since this store opened its embedded database."""
        copied = self.dir
        super().reconnect()
        if self.dir != copied:  # a read-only index copied again: its unit vectors too
            self.units = LocalUnits(self.dir / UNITS_FILE)

    # -- the manifest ------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.manifests.path

    def load_manifest(self) -> Manifest:
        return self.manifests.load()

    def save_manifest(self, manifest: Manifest) -> None:
        self.manifests.save(manifest)

    def state(self) -> object:
        """Changes whenever another process saves the manifest; cheap enough to poll."""
        return self.manifests.state()

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
                self.manifests.forget()
            self._open_collection()
        if not self.url:
            self.units.clear()
        self._bm25 = None

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
        self.reading(lambda: self.vector_store.delete(ref_doc_id=source))

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
            self.reading(partial(_add_nodes, self, batch))

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
