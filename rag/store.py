"""Persistent state of one corpus index: Chroma chunks, a manifest of documents, BM25.

Layout under ``settings.index_dir``::

    chroma/                       Chroma PersistentClient (one collection per corpus)
    <collection>/manifest.json    source -> content hash, file stat, chunk count, title
    <collection>/bm25/            BM25 over the same chunks, tagged with the manifest's fingerprint
    <collection>/write.lock       held by the one process allowed to write

The manifest is written only after the chunks it lists are in Chroma, so after a crash it
never claims more than Chroma holds; ``repair`` deletes what it does not claim.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rag.chunking import chunk_id
from rag.embedding import set_offline_env
from rag.errors import IndexBusyError
from rag.lexical import BM25Index
from rag.settings import Settings
from rag.types import Chunk

MANIFEST_VERSION = 1
T = TypeVar("T")
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


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
    with (path / "open.lock").open("a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # held for the short time it takes to open
        yield


def chroma_client(path: Path) -> Any:
    """One PersistentClient per folder per process (Chroma requires it), telemetry off."""
    set_offline_env()
    key = str(path.resolve())
    with _clients_lock:
        if key not in _clients:
            import chromadb

            with opening_lock(path.parent):
                _clients[key] = chromadb.PersistentClient(
                    path=key, settings=chromadb.Settings(anonymized_telemetry=False, allow_reset=False)
                )
        return _clients[key]


@dataclass
class DocEntry:
    hash: str
    chunks: int
    title: str = ""
    size: int = -1
    mtime_ns: int = -1


@dataclass
class Manifest:
    config: dict[str, Any]
    documents: dict[str, DocEntry] = field(default_factory=dict)

    def expected_ids(self) -> dict[str, tuple[str, str]]:
        """chunk id -> (source, document hash) for every chunk the manifest claims."""
        out: dict[str, tuple[str, str]] = {}
        for source, entry in self.documents.items():
            for i in range(entry.chunks):
                out[chunk_id(source, i)] = (source, entry.hash)
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
        self.dir = settings.index_dir / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = {
            "model": model_id,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap": settings.chunk_overlap,
        }
        self.client = chroma_client(settings.index_dir / "chroma")
        self._open_collection()
        self._bm25: BM25Index | None = None

    def _open_collection(self) -> None:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        with opening_lock(self.settings.index_dir):
            self.collection = self.client.get_or_create_collection(
                self.name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
            )
        self.vector_store = ChromaVectorStore(chroma_collection=self.collection)

    # -- manifest ---------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def load_manifest(self) -> Manifest:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if data.get("version") != MANIFEST_VERSION:
                raise ValueError("old manifest")
            docs = {s: DocEntry(**e) for s, e in data["documents"].items()}
            return Manifest(config=data["config"], documents=docs)
        except (OSError, ValueError, KeyError, TypeError):
            return Manifest(config=dict(self.config))

    def save_manifest(self, manifest: Manifest) -> None:
        data = {
            "version": MANIFEST_VERSION,
            "corpus": str(self.corpus),
            "config": manifest.config,
            "documents": {s: vars(e) for s, e in sorted(manifest.documents.items())},
        }
        tmp = self.manifest_path.with_suffix(".json.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.manifest_path)

    # -- writing ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Exclusive writer lock; a second writer fails at once with a clear message."""
        path = self.dir / "write.lock"
        fh = path.open("a+")
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexBusyError(
                    f"index busy: another process is indexing {self.corpus}; try again when it finishes"
                ) from None
            yield
        finally:
            fh.close()

    def reset(self) -> None:
        """Drop every chunk (used when the chunking or the model changed)."""
        self.client.delete_collection(self.name)
        self._open_collection()
        self._bm25 = None

    def stored_chunks(self) -> dict[str, dict[str, Any]]:
        """chunk id -> metadata, for every chunk Chroma holds (paged, for large collections)."""
        out: dict[str, dict[str, Any]] = {}
        page = 5000
        offset = 0
        while True:
            got = self.collection.get(include=["metadatas"], limit=page, offset=offset)
            for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                out[cid] = dict(meta or {})
            if len(got["ids"]) < page:
                return out
            offset += page

    def delete_ids(self, ids: list[str]) -> None:
        for i in range(0, len(ids), 5000):
            self.collection.delete(ids=ids[i : i + 5000])

    def delete_source(self, source: str) -> None:
        self.vector_store.delete(ref_doc_id=source)

    def add_chunks(
        self, chunks: list[Chunk], vectors: np.ndarray, doc_hashes: dict[str, str], titles: dict[str, str]
    ) -> None:
        from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode

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
                    "title": titles.get(chunk.source, ""),
                },
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=chunk.source)
            nodes.append(node)
        if nodes:
            self.vector_store.add(nodes)

    # -- reading ----------------------------------------------------------------------------
    def _reading(self, read: Callable[[], T]) -> T:
        """Run a read; if another engine or process dropped and recreated the collection (a
        chunking change rebuilds it), reopen it once and read again instead of failing."""
        from chromadb.errors import NotFoundError

        try:
            return read()
        except NotFoundError:
            self._open_collection()
            return read()

    def count(self) -> int:
        return int(self._reading(lambda: self.collection.count()))

    def query_dense(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        """Nearest chunks with their cosine similarity."""
        from llama_index.core.vector_stores.types import VectorStoreQuery

        n = min(k, self.count())
        if n <= 0:
            return []
        query = VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=n)
        res = self._reading(lambda: self.vector_store.query(query))
        out = []
        for node, sim in zip(res.nodes or [], res.similarities or [], strict=False):
            cos = 1.0 + float(np.log(max(sim, 1e-12)))  # the store reports exp(-cosine distance)
            out.append((_node_chunk(node.node_id, node.get_content(), node.metadata), cos))
        return out

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

    def all_texts(self) -> tuple[list[str], list[str]]:
        ids: list[str] = []
        texts: list[str] = []
        page = 5000
        offset = 0
        while True:
            got = self.collection.get(include=["documents"], limit=page, offset=offset)
            ids.extend(got["ids"])
            texts.extend(t or "" for t in got["documents"] or [])
            if len(got["ids"]) < page:
                return ids, texts
            offset += page

    def bm25(self, manifest: Manifest) -> BM25Index:
        """The BM25 index matching ``manifest``, rebuilt from Chroma when it is stale or missing."""
        fp = manifest.fingerprint()
        if self._bm25 is not None and self._bm25.fingerprint == fp:
            return self._bm25
        loaded = BM25Index.load(self.dir / "bm25")
        if loaded is None or loaded.fingerprint != fp:
            ids, texts = self.all_texts()
            loaded = BM25Index.build(ids, texts, fp)
            loaded.save(self.dir / "bm25")
        self._bm25 = loaded
        return loaded


def _node_chunk(cid: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(
        id=cid,
        source=str(meta.get("source", "")),
        index=int(meta.get("index", 0)),
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        text=text,
    )
