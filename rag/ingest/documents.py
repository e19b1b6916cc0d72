"""The text of each document, by source, as the loader extracts it now: what quotes are checked against.

A citation is only given when the document's current text at its offsets is the quote, so an
edited or deleted file can never be quoted from a stale index. Texts are cached, stamped with
the file's size, modification and change times and inode (an edit that restores the mtime
still moves the ctime; a file replaced by rename has a new inode), within a byte budget (least
recently used out first). Only regular files are read (``read_regular``): never a FIFO, a device
or a symlink put where a document was.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from rag.errors import LoadError
from rag.ingest.loaders import is_jsonl_corpus, iter_jsonl_located, page_at, read_file, read_jsonl_at, reader_for
from rag.settings import Settings
from rag.types import Document

Stamp = tuple[int, int, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class DocumentSource:
    def __init__(self, corpus: Path, settings: Settings) -> None:
        self.corpus = corpus
        self.max_file_bytes = settings.max_file_bytes
        self.max_file_seconds = settings.max_file_seconds
        self.budget = settings.document_cache_bytes
        self._jsonl = is_jsonl_corpus(corpus)
        self._cache: OrderedDict[str, tuple[Stamp, str]] = OrderedDict()
        self._size = 0
        self._complete: Stamp | None = None  # a .jsonl corpus whose every text is in the cache
        self._lines: tuple[Stamp, dict[str, tuple[int, int]]] | None = None  # where each record starts
        self._lock = threading.Lock()

    def text(self, source: str) -> str | None:
        """The document's text now, or None when it is gone, unreadable or outside the corpus."""
        if self._jsonl:
            return self._jsonl_text(source)
        path = self.corpus / source
        if not path.resolve().is_relative_to(self.corpus):
            return None
        stamp = _stamp(path)
        if stamp is None:
            return None
        cached = self._get(source, stamp)
        if cached is not None:
            return cached
        try:
            text = read_file(path, source, self.max_file_bytes, self.max_file_seconds).text
        except LoadError:
            return None
        self._put(source, stamp, text)
        return text

    def quote(self, source: str, start: int, end: int, expected: str) -> str | None:
        """``text(source)[start:end]`` when it is exactly ``expected``; None when the document changed."""
        text = self.text(source)
        if text is None or text[start:end] != expected:
            return None
        return text[start:end]

    def page(self, source: str, offset: int) -> int | None:
        """The page ``offset`` falls on, as the reader of the document's format counts them; None
        for a format without pages (and for a .jsonl corpus's records)."""
        reader = None if self._jsonl else reader_for(source)
        if reader is None or not reader.paged:
            return None
        text = self.text(source)
        return None if text is None else page_at(reader.page_starts(text), offset)

    def locate(self, source: str, start: int, end: int, expected: str) -> tuple[int, int] | None:
        """Where ``expected`` is in the document now: at ``start:end``, or the occurrence nearest it.

        A document edited since it was indexed (a line added above, say) still holds most of its
        sentences verbatim, only elsewhere; they stay citable, at their new offsets, until the
        index catches up. None when the sentence is gone.
        """
        text = self.text(source)
        if text is None or not expected:
            return None
        if text[start:end] == expected:
            return start, end
        after = text.find(expected, max(start, 0))
        before = text.rfind(expected, 0, max(start, 0) + len(expected) - 1)
        found = [i for i in (after, before) if i >= 0]
        if not found:
            return None
        best = min(found, key=lambda i: abs(i - start))
        return best, best + len(expected)

    def _jsonl_text(self, source: str) -> str | None:
        """One pass over the file fills the cache and notes where each record's line starts.

        A miss is final while every text fits in the cache; when they do not, a miss reads the
        one line the record is on (a 100k-chunk corpus: one line, not a pass over 80,000).
        """
        stamp = _stamp(self.corpus)
        if stamp is None:
            return None
        cached = self._get(source, stamp)
        if cached is not None or self._complete == stamp:
            return cached
        lines = self._lines
        if lines is not None and lines[0] == stamp:
            at = lines[1].get(source)
            doc = read_jsonl_at(self.corpus, at) if at is not None else None
            if doc is None or doc.source != source:
                return None
            self._put(source, stamp, doc.text)
            return doc.text
        with self._lock:
            self._clear()  # texts of another version of the file, or a partial pass
        found = None
        complete = True
        where: dict[str, tuple[int, int]] = {}
        for place, item in iter_jsonl_located(self.corpus):
            if isinstance(item, Document):
                where[item.source] = place
                complete = self._put(item.source, stamp, item.text) and complete
                if item.source == source:
                    found = item.text
        if found is not None and not complete:
            self._put(source, stamp, found)  # keep the one asked for, most recently used
        self._complete = stamp if complete else None
        self._lines = None if complete else (stamp, where)  # only needed when the texts do not all fit
        return found

    def forget(self) -> None:
        """Drop every cached text (the index changed: what it quotes is read anew)."""
        with self._lock:
            self._clear()

    def _get(self, source: str, stamp: Stamp) -> str | None:
        with self._lock:
            item = self._cache.get(source)
            if item is None or item[0] != stamp:
                return None
            self._cache.move_to_end(source)
            return item[1]

    def _put(self, source: str, stamp: Stamp, text: str) -> bool:
        """Cache ``text``; False when the budget forced anything (it, or older texts) out."""
        with self._lock:
            old = self._cache.pop(source, None)
            if old is not None:
                self._size -= len(old[1])
            if len(text) > self.budget:
                return False
            self._cache[source] = (stamp, text)
            self._size += len(text)
            kept = True
            while self._size > self.budget:
                _, (_, dropped) = self._cache.popitem(last=False)
                self._size -= len(dropped)
                kept = False
            return kept

    def _clear(self) -> None:
        self._cache.clear()
        self._size = 0
        self._complete = None
        self._lines = None
