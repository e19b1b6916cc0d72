"""Incremental indexing: embed only new or changed documents, drop deleted ones, repair crashes."""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import CorpusError, LoadError, StoreError
from rag.index.chroma import MANIFEST_VERSION
from rag.index.manifest import DocEntry, Manifest
from rag.index.store import IndexStore, text_hash
from rag.ingest.chunking import chunk_document
from rag.ingest.loaders import content_hash, is_jsonl_corpus, iter_jsonl, read_file, scan_folder
from rag.language.embedding import Encoder
from rag.language.sentence_vectors import embed as embed_units
from rag.language.sentence_vectors import pack
from rag.types import Chunk, Document, IndexReport, SkippedFile

BATCH_CHUNKS = 256
PROGRESS_MIN_CHUNKS = 200


@dataclass(frozen=True)
class _Pending:
    doc: Document
    entry: DocEntry


@dataclass(frozen=True)
class _Part:
    """Some chunks of one pending document; ``last`` when they complete it."""

    pending: _Pending
    chunks: list[Chunk]
    last: bool


def repair(store: IndexStore, manifest: Manifest) -> tuple[int, set[str], dict[str, np.ndarray]]:
    """Make Chroma hold exactly what the manifest claims.

    Deletes chunks no manifest entry claims (left by a run killed mid-write) and drops from the
    manifest any document whose chunks are incomplete, so it is embedded again. The vectors of
    deleted chunks are returned by text hash, so re-adding the same text does not encode it.
    Returns (chunks deleted, sources to re-embed, reusable vectors).
    """
    stored = store.stored_hashes()
    expected = manifest.expected_ids()
    orphans = [cid for cid, digest in stored.items() if cid not in expected or digest != expected[cid][1]]
    reusable: dict[str, np.ndarray] = {}
    if orphans:
        reusable = store.vectors_of(orphans)
        store.delete_ids(orphans)
    present = set(stored) - set(orphans)
    broken = {source for cid, (source, _) in expected.items() if cid not in present}
    if broken:
        reusable.update(store.vectors_of([cid for cid, (s, _) in expected.items() if s in broken and cid in present]))
    for source in broken:
        store.delete_source(source)
        manifest.documents.pop(source, None)
    return len(orphans), broken, reusable


Stat = tuple[int, int, int]  # size, mtime_ns, ctime_ns (-1 when unknown)


def _scan(
    corpus: Path,
    manifest: Manifest,
    max_bytes: int,
    max_seconds: float,
    rehash: bool = False,
    listed: Callable[[int], None] = lambda n: None,
) -> Iterator[tuple[str, Document | None, Stat] | SkippedFile]:
    """Yield (source, document or None when unchanged by stat, stat) or a SkippedFile.

    A file counts as unchanged only when its size, mtime and ctime all match the manifest (an
    edit that restores the mtime still moves the ctime); ``rehash`` reads and hashes every file.
    ``listed`` is told how many entries a folder holds once it is listed (the progress bar's total).
    """
    if is_jsonl_corpus(corpus):
        for item in iter_jsonl(corpus, max_bytes):
            if isinstance(item, SkippedFile):
                yield item
            else:
                yield item.source, item, (-1, -1, -1)
        return
    files, skipped = scan_folder(corpus)
    listed(len(files) + len(skipped))
    yield from skipped
    for f in files:
        stat = (f.size, f.mtime_ns, f.ctime_ns)
        entry = manifest.documents.get(f.source)
        if not rehash and entry is not None and (entry.size, entry.mtime_ns, entry.ctime_ns) == stat:
            yield f.source, None, stat
            continue
        try:
            yield f.source, read_file(f.path, f.source, max_bytes, max_seconds), stat
        except LoadError as err:
            yield SkippedFile(f.source, str(err))


def index_corpus(store: IndexStore, encoder: Encoder, progress: bool = False, rehash: bool = False) -> IndexReport:
    """Bring the index of ``store.corpus`` up to date; the caller holds the write lock."""
    manifest = store.load_manifest()
    # An index from before unit vectors were stored, or whose units file was lost, gets them.
    backfill = _units_changed(store, manifest) or (store.units.created and bool(manifest.documents))
    if manifest.config != store.config:
        if manifest.config.get("model") != store.config["model"]:
            store.reset()  # other vectors: nothing to reuse
        # Otherwise only the chunking changed: every chunk is now unclaimed, ``repair`` deletes
        # them keeping their vectors, and text that chunks the same way is not encoded again.
        manifest = Manifest(config=dict(store.config))
    upgraded = manifest.format if manifest.format < MANIFEST_VERSION and manifest.documents else 0
    prior = {s: e.hash for s, e in manifest.documents.items()} if upgraded else {}
    repaired, rebuilt, reusable = repair(store, manifest)
    if upgraded:
        repaired = 0  # the chunks were re-keyed, not left by a crash

    writer = _Writer(
        store, encoder, manifest, reusable, _Progress(progress, store.corpus, store.settings.progress_every_s)
    )
    found = _read_corpus(writer, manifest, rehash, prior, rebuilt)

    removed = sorted(set(manifest.documents) - found.seen)
    if not found.seen and not manifest.documents:
        detail = f" ({len(found.skipped)} files skipped: {found.skipped[0]})" if found.skipped else ""
        raise CorpusError(f"no readable document in corpus {store.corpus}{detail}")
    if not found.seen:
        raise CorpusError(f"no readable document in corpus {store.corpus}; the existing index was left as it is")

    # Removed documents go last, so a file that was renamed reuses its vectors above; their
    # chunks are deleted only once the saved manifest no longer claims them.
    for source in removed:
        writer.checkpoint.retire(manifest.documents.pop(source).chunk_ids(source))
    if removed or found.touched or manifest.format != MANIFEST_VERSION:
        writer.checkpoint.dirty = True
    made = backfill_units(store, encoder, manifest, progress) if backfill else 0
    store.units.created = False
    writer.checkpoint.dirty |= backfill
    writer.checkpoint.save()
    bm25 = store.bm25(manifest)
    return IndexReport(
        added=tuple(found.added),
        updated=tuple(found.updated),
        removed=tuple(removed),
        unchanged=tuple(found.unchanged),
        skipped=tuple(found.skipped),
        repaired=repaired,
        upgraded_from=upgraded,
        chunks=len(bm25.ids),
        embedded=writer.encoded,
        reused=writer.reused,
        units_made=made,
    )


@dataclass
class _Found:
    """What one scan of the corpus found, document by document."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    touched: bool = False  # stat details refreshed (or an older manifest format): saved even with nothing to embed


def _read_corpus(writer: _Writer, manifest: Manifest, rehash: bool, prior: dict[str, str], rebuilt: set[str]) -> _Found:
    """Scan the corpus, handing each new or changed document to ``writer`` (which embeds in batches)."""
    store, settings = writer.store, writer.store.settings
    found = _Found()
    scan = _scan(
        store.corpus, manifest, settings.max_file_bytes, settings.max_file_seconds, rehash, writer.progress.total
    )
    for item in writer.watch(scan):
        writer.progress.document()
        if isinstance(item, SkippedFile):
            found.skipped.append(item)
            continue
        source, doc, (size, mtime_ns, ctime_ns) = item
        found.seen.add(source)
        old = manifest.documents.get(source)
        if doc is None:
            found.unchanged.append(source)
            continue
        digest = content_hash(doc.text)
        if old is not None and old.hash == digest:
            # touched but identical: no re-embedding, only the stat details refreshed
            found.touched = found.touched or (old.size, old.mtime_ns, old.ctime_ns) != (size, mtime_ns, ctime_ns)
            old.size, old.mtime_ns, old.ctime_ns = size, mtime_ns, ctime_ns
            found.unchanged.append(source)
            continue
        # Written in batches as the scan goes: memory stays bounded by a batch, not the corpus.
        writer.add(_Pending(doc, DocEntry(digest, 0, doc.title, size, mtime_ns, ctime_ns)))
        if prior.get(source) == digest:
            found.unchanged.append(source)  # only re-keyed by the format upgrade
        else:
            (found.updated if old is not None or source in rebuilt else found.added).append(source)
    return found


def _units_changed(store: IndexStore, manifest: Manifest) -> bool:
    """Whether only the unit vectors are missing or made another way (then made again, once).

    An index from before they were stored has no ``sentences`` in its config; the rest of its
    config still holds, so its chunks and vectors are kept.
    """
    old, new = dict(manifest.config), dict(store.config)
    if old.get("sentences") == new["sentences"] or old.get("model") != new["model"]:
        return False  # nothing to do, or a new model: everything is rebuilt anyway
    if "sentences" in old:
        if manifest.format == MANIFEST_VERSION:  # (an older format is rewritten only once upgraded)
            # Saved first, so that a run stopped after the drop, or while they are remade, remakes
            # them all next time instead of trusting a manifest that still names the old way.
            store.save_manifest(dataclasses.replace(manifest, config={**old, "sentences": "remaking"}))
        store.drop_sentence_vectors()
    same_chunks = {k: v for k, v in old.items() if k != "sentences"} == {
        k: v for k, v in new.items() if k != "sentences"
    }
    if same_chunks:
        manifest.config = new  # keep the chunks; the rest of the run makes their unit vectors
    return same_chunks and bool(manifest.documents)


def backfill_units(store: IndexStore, encoder: Encoder, manifest: Manifest, progress: bool) -> int:
    """Make the unit vectors of every claimed chunk that has none; returns how many chunks."""
    ids = list(manifest.expected_ids())
    bar = None
    if progress and len(ids) >= PROGRESS_MIN_CHUNKS:
        from rag.progress import progress_bar

        bar = progress_bar(len(ids), "sentence vectors", "chunk", store.settings.progress_every_s)
    made = 0
    for i in range(0, len(ids), BATCH_CHUNKS):
        chunks = list(store.get_chunks(ids[i : i + BATCH_CHUNKS]).values())
        keys = [text_hash(c.embed_text) for c in chunks]
        have = store.has_sentence_vectors(keys)
        todo = [(k, c) for k, c in zip(keys, chunks, strict=True) if k not in have]
        if todo:
            units = embed_units(encoder, [c for _, c in todo], store.settings.sentence_vectors, False)[1]
            store.add_sentence_vectors({k: pack(u) for (k, _), u in zip(todo, units, strict=True)})
            made += len(todo)
        if bar is not None:
            bar.update(len(chunks))
    if bar is not None:
        bar.close()
    return made


BYTES_PER_CHUNK = 12_000  # vector, text and metadata in Chroma's files: 25 MB for 2,541 chunks, with margin
SPACE_MARGIN = 2_000_000  # for the database's own logs and compaction


def _check_space(index_dir: Path, chunks: int) -> None:
    """Refuse a batch the disk cannot hold, before writing it: the last saved index keeps answering."""
    needed = chunks * BYTES_PER_CHUNK + SPACE_MARGIN
    free = shutil.disk_usage(index_dir).free
    if free < needed:
        raise StoreError(
            f"no space left for the index in {index_dir}: about {needed / 1e6:.1f} MB needed for the next "
            f"{chunks} chunks, {free / 1e6:.1f} MB free; free some space and run rag index again"
        )


class _Writer:
    """Chunks, embeds and stores documents as the scan yields them, ``BATCH_CHUNKS`` at a time.

    Holding only one batch keeps indexing memory flat however many files the corpus has. The
    manifest is saved by a ``_Checkpoint`` after batches, and always when the run ends or fails.
    """

    def __init__(
        self,
        store: IndexStore,
        encoder: Encoder,
        manifest: Manifest,
        reusable: dict[str, np.ndarray],
        progress: _Progress,
    ) -> None:
        self.store, self.encoder, self.manifest, self.reusable = store, encoder, manifest, reusable
        self.checkpoint = _Checkpoint(store, manifest)
        self.progress = progress
        self.batch: list[_Part] = []
        self.size = 0
        self.encoded = 0
        self.reused = 0
        self.written = 0  # documents

    def watch(self, items: Iterator[Any]) -> Iterator[Any]:
        """Pass ``items`` through, then write the last batch; whatever happens, save the manifest."""
        try:
            yield from items
            self.flush()
        finally:
            self.checkpoint.save()
            self.progress.close()

    def add(self, pending: _Pending) -> None:
        s = self.store.settings
        chunks = chunk_document(
            pending.doc, self.encoder.tokenizer, s.chunk_tokens, s.chunk_overlap, pending.entry.hash
        )
        pending.entry.chunks = len(chunks)
        # A long document is written over several batches; the manifest claims it after its last.
        for i in range(0, max(len(chunks), 1), BATCH_CHUNKS):
            part = chunks[i : i + BATCH_CHUNKS]
            self.batch.append(_Part(pending, part, i + BATCH_CHUNKS >= len(chunks)))
            self.size += len(part)
            if self.size >= BATCH_CHUNKS:
                self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        if not self.store.url:
            _check_space(self.store.settings.index_dir, self.size)
        encoded = _write_batch(
            self.store, self.encoder, self.manifest, self.batch, self.reusable, self.checkpoint.retire
        )
        self.encoded += encoded
        self.reused += self.size - encoded
        self.written += sum(part.last for part in self.batch)
        self.checkpoint.after_batch()
        tail = self.batch[-1]
        if not tail.last and tail.chunks:  # inside a document of several batches: say how far
            self.progress.within(tail.pending.doc.source, tail.chunks[-1].index + 1, tail.pending.entry.chunks)
        else:
            self.progress.within("", 0, 0)
        self.progress.chunks(self.size)
        self.batch, self.size = [], 0


class _Progress:
    """One bar over the corpus's documents, with ETA, documents/s and chunks/s; only on a terminal.

    It is drawn only when stderr is a terminal, so logs and pipes get only the summary line.
    The total is the folder listing the scan makes anyway (``total``), or the lines of a .jsonl,
    counted first.
    """

    def __init__(self, enabled: bool, corpus: Path, every_s: float) -> None:
        self.bar: Any = None
        self.done_chunks = 0
        self.inside = ""  # "big.txt 1024/5400": the document of several batches being written
        self.started = time.monotonic()
        if enabled:
            from rag.progress import progress_bar

            lines = _count_lines(corpus) if is_jsonl_corpus(corpus) else None
            self.bar = progress_bar(lines, "indexing", "doc", every_s)

    def total(self, n: int) -> None:
        if self.bar is not None:
            self.bar.total = n
            self.bar.refresh()

    def document(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def within(self, source: str, done: int, total: int) -> None:
        self.inside = f"{source} {done}/{total}" if source else ""

    def chunks(self, n: int) -> None:
        """After each batch: the bar (or the next line) moves inside one big document too."""
        self.done_chunks += n
        if self.bar is not None:
            rate = self.done_chunks / max(time.monotonic() - self.started, 1e-9)
            inside = f", {self.inside}" if self.inside else ""
            self.bar.set_postfix_str(f"{self.done_chunks} chunks, {rate:.0f} chunks/s{inside}", refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _count_lines(corpus: Path) -> int | None:
    """How many records a .jsonl corpus holds (for the bar's ETA), or None if it cannot tell."""
    try:
        with corpus.open("rb") as f:
            return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return None


class _Checkpoint:
    """Saves the manifest after a batch only when enough time has passed since the last save.

    Rewriting the whole manifest after every batch cost 0.4 s per save at 80,000 documents, a
    tenth of a batch's encoding time. Saving less often loses nothing after a crash: chunks the
    manifest does not yet claim are deleted by ``repair``, and their vectors are reused by text
    hash when the documents are indexed again.
    """

    MIN_INTERVAL_S = 2.0
    COST_FACTOR = 50  # at most ~2 % of the run spent saving

    def __init__(self, store: IndexStore, manifest: Manifest) -> None:
        self.store = store
        self.manifest = manifest
        self.last = time.monotonic()
        self.cost = 0.0
        self.dirty = False
        self.retired: list[str] = []

    def after_batch(self) -> None:
        self.dirty = True
        if time.monotonic() - self.last >= max(self.MIN_INTERVAL_S, self.COST_FACTOR * self.cost):
            self.save()

    def retire(self, ids: list[str]) -> None:
        """Delete ``ids`` (a replaced or removed version) once a saved manifest no longer claims them."""
        self.retired.extend(ids)
        self.dirty = True

    def save(self) -> None:
        """Save the manifest, then delete what it no longer claims: readers of the manifest saved
        before keep every chunk it names until they reload (``Engine.follow``)."""
        if not self.dirty:
            return
        t0 = time.monotonic()
        self.store.save_manifest(self.manifest)
        self.last = time.monotonic()
        self.cost = self.last - t0
        self.dirty = False
        retired, self.retired = self.retired, []
        self.store.delete_ids(retired)


def _write_batch(
    store: IndexStore,
    encoder: Encoder,
    manifest: Manifest,
    batch: list[_Part],
    reusable: dict[str, np.ndarray],
    retire: Callable[[list[str]], None],
) -> int:
    """Replace the chunks of a few documents, then record them in the manifest (saved by the caller).

    Returns how many chunks had to be encoded: text already embedded in the collection reuses
    its stored vector.
    """
    chunks = [c for part in batch for c in part.chunks]
    keys = [text_hash(c.embed_text) for c in chunks]
    known = {key: reusable[key] for key in keys if key in reusable}
    known.update(store.vectors_by_text([key for key in keys if key not in known]))
    todo = [i for i, key in enumerate(keys) if key not in known]
    mode = store.settings.sentence_vectors
    vectors = np.empty((len(chunks), encoder.dim), dtype=np.float32)
    if todo:  # text never embedded: one call makes its vector and its units'
        made, units = embed_units(encoder, [chunks[i] for i in todo], mode)
        vectors[todo] = made
        store.add_sentence_vectors({keys[i]: pack(u) for i, u in zip(todo, units, strict=True)})
    # Text embedded before unit vectors were stored (or whose units were lost): units only.
    have = store.has_sentence_vectors(keys) if len(todo) < len(keys) else set()
    todo_set = set(todo)
    units_only = [i for i, key in enumerate(keys) if i not in todo_set and key not in have]
    if units_only:
        units = embed_units(encoder, [chunks[i] for i in units_only], mode, False)[1]
        store.add_sentence_vectors({keys[i]: pack(u) for i, u in zip(units_only, units, strict=True)})
    for i, key in enumerate(keys):
        if key in known:
            vectors[i] = known[key]
    store.add_chunks(
        chunks,
        vectors,
        {part.pending.doc.source: part.pending.entry.hash for part in batch},
        {part.pending.doc.source: part.pending.doc.title for part in batch},
    )
    for part in batch:
        if not part.last:
            continue
        p = part.pending
        old = manifest.documents.get(p.doc.source)
        if old is not None:
            new = set(p.entry.chunk_ids(p.doc.source))
            retire([cid for cid in old.chunk_ids(p.doc.source) if cid not in new])
        manifest.documents[p.doc.source] = p.entry
    return len(todo)
