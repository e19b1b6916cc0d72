"""The manifest of an index: which document versions it holds, as a file or a server collection.

The manifest is written only after the chunks it lists are in Chroma, so after a crash it never
claims more than Chroma holds. On a server only what changed since the last read is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import StoreError
from rag.index.chroma import MANIFEST_VERSION, PAGE, Collections, remote_errors
from rag.ingest.chunking import chunk_id

OLDEST_READABLE = 1


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


class ManifestStore:
    """Reads and writes the manifest of ``collections`` (a file beside the index, or a server collection)."""

    def __init__(self, collections: Collections, config: dict[str, Any], fence: Callable[[], None]) -> None:
        self.collections = collections
        self.config = config
        self.fence = fence  # before a write to a server: stop if this writer lost its lease
        self._saved: dict[str, tuple[Any, ...]] = {}  # server manifest as last read or written
        self._saved_config: dict[str, Any] | None = None

    def forget(self) -> None:
        """The server's manifest collection was dropped: nothing of it is known any more."""
        self._saved, self._saved_config = {}, None

    @property
    def path(self) -> Path:
        return self.collections.dir / "manifest.json"

    def load(self) -> Manifest:
        if self.collections.url:
            return self.collections.reading(self._load_server)
        try:
            # Entries become DocEntry objects as they are decoded, so the decoded dicts of a large
            # manifest never all exist at once beside them (half the peak at 100,000 documents).
            data = json.loads(self.path.read_text(encoding="utf-8"), object_hook=_entry_or_dict)
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
        if self.collections.url:
            with remote_errors(self.collections.url):
                col = self.collections.client.get_collection(
                    f"{self.collections.name}-manifest", embedding_function=None
                )
            return (col.id, (col.metadata or {}).get("generation"))
        try:  # of a read-only index, the original's manifest: a change there is copied again
            st = (self.collections.settings.index_dir / self.collections.name / "manifest.json").stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _check_version(self, version: object) -> None:
        """Refuse an index written by a newer rag, in one line; older formats are read and upgraded."""
        if isinstance(version, int) and not isinstance(version, bool) and version > MANIFEST_VERSION:
            raise StoreError(
                f"the index in {self.collections.url or self.collections.dir} has format {version}, newer than this rag reads "
                f"({MANIFEST_VERSION}): upgrade rag, or `rag index --rebuild` to build one this version reads"
            )

    def _load_server(self) -> Manifest:
        meta = self.collections.manifest_collection.metadata or {}
        self._check_version(meta.get("rag_manifest"))
        config = json.loads(str(meta["config"])) if "config" in meta else dict(self.config)
        docs: dict[str, DocEntry] = {}
        for got in self.collections.pages("manifest_collection", ["metadatas"]):
            for source, m in zip(got["ids"], got["metadatas"] or [], strict=False):
                m = m or {}
                entry = DocEntry.parse({"ctime_ns": -1, **m})
                if entry is not None:
                    docs[source] = entry
        self._saved = {source: e.as_tuple() for source, e in docs.items()}
        self._saved_config = config if "config" in meta else None
        version = meta.get("rag_manifest")
        return Manifest(config=config, documents=docs, format=version if isinstance(version, int) else 1)

    def _save_server(self, manifest: Manifest) -> None:
        """Write only what changed since the last read or write: one request per 1,000 entries."""
        current = {source: e.as_tuple() for source, e in manifest.documents.items()}
        changed = [source for source, values in current.items() if self._saved.get(source) != values]
        gone = [source for source in self._saved if source not in current]
        col = self.collections.manifest_collection
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

    def save(self, manifest: Manifest) -> None:
        if self.collections.url:
            self.fence()
            self.collections.reading(lambda: self._save_server(manifest))
            manifest.format = MANIFEST_VERSION
            return
        data = {
            "version": MANIFEST_VERSION,
            "corpus": str(self.collections.corpus),
            "config": manifest.config,
            "documents": {s: e.as_dict() for s, e in sorted(manifest.documents.items())},
        }
        tmp = self.path.with_suffix(".json.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        manifest.format = MANIFEST_VERSION
