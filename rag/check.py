"""``rag check``: is the index whole, like ``git fsck``? One line per problem found.

Checks that the database opens, that the manifest and the collection claim the same chunks of
the same document versions (no duplicates), that every stored chunk is its document's text at its
offsets, that the saved BM25 matches the manifest, and that no document changed since it was
indexed. ``repair`` re-indexes from the documents, reusing every vector that is still right.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag.index.lexical import BM25Index
from rag.settings import Settings


@dataclass(frozen=True)
class CheckReport:
    documents: int
    chunks: int
    problems: tuple[str, ...]
    bad_chunks: tuple[str, ...] = ()  # stored chunks whose text is not their document's


def check_index(corpus: str | Path | None = None, settings: Settings | None = None) -> CheckReport:
    """Read-only: every disagreement between the index and the documents, one line each."""
    from rag.core import get_engine
    from rag.index.store import damaged_store
    from rag.ingest.loaders import content_hash

    engine = get_engine(corpus, settings)
    store = engine.store
    with damaged_store(engine.settings.index_dir):
        manifest = store.load_manifest()
        stored = store.stored_chunks()
        ids, texts = store.all_texts(embedded=False)  # a chunk's own text, not its section path
        count = store.count()
    problems: list[str] = []
    expected = manifest.expected_ids()
    for cid in sorted(set(stored) - set(expected)):
        problems.append(f"chunk {cid} of {stored[cid].get('source')} is stored but not in the manifest")
    for cid in sorted(set(expected) - set(stored)):
        problems.append(f"chunk {cid} of {expected[cid][0]} is in the manifest but not stored")
    for cid in sorted(set(expected) & set(stored)):
        if stored[cid].get("doc_hash") != expected[cid][1]:
            problems.append(f"chunk {cid} of {expected[cid][0]} belongs to another version of the document")
    if count != len(stored):
        problems.append(f"the collection holds {count} records for {len(stored)} ids (duplicates)")
    text_of = dict(zip(ids, texts, strict=True))
    bad: list[str] = []
    current: dict[str, str | None] = {}
    for cid, meta in sorted(stored.items()):
        source = str(meta.get("source", ""))
        if source not in current:
            current[source] = engine.documents.text(source)
        doc = current[source]
        start, end = int(meta.get("start", -1)), int(meta.get("end", -1))
        if doc is not None and source in manifest.documents and doc[start:end] != text_of.get(cid):
            problems.append(f"chunk {cid} does not equal {source} at characters {start}-{end}")
            bad.append(cid)
    for source, entry in sorted(manifest.documents.items()):
        doc = current[source] if source in current else engine.documents.text(source)
        if doc is None:
            problems.append(f"{source} is indexed but can no longer be read; run rag index")
        elif content_hash(doc) != entry.hash:
            problems.append(f"{source} changed since it was indexed; run rag index")
    saved = BM25Index.load(store.dir / "bm25")
    if saved is None or saved.fingerprint != manifest.fingerprint() or sorted(saved.ids) != sorted(expected):
        problems.append("the saved BM25 index does not match the manifest (it is rebuilt on the next run)")
    return CheckReport(len(manifest.documents), len(stored), tuple(problems), tuple(bad))


def repair_index(corpus: str | Path | None = None, settings: Settings | None = None) -> CheckReport:
    """Re-index from the documents (every file re-read and hashed, good vectors reused), then check."""
    from rag.core import build_index, get_engine

    store = get_engine(corpus, settings).store
    store.delete_ids(list(check_index(corpus, settings).bad_chunks))  # re-encoded from the document below
    store.forget_bm25()  # a damaged saved BM25 is rebuilt and saved
    build_index(corpus, settings=settings, rehash=True)
    return check_index(corpus, settings)
