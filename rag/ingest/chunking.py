"""Split documents into encoder-sized chunks that keep their exact character offsets."""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterator
from typing import Any

from rag.language.units import Unit, enter, heading_title, text_units
from rag.types import Chunk, Document


def doc_key(source: str) -> str:
    """Stable short key of a document source; chunk ids are ``{doc_key}-{version}-{index}``."""
    return hashlib.sha1(source.encode("utf-8", "surrogatepass")).hexdigest()[:16]


CHUNKER = 3  # 2: structure-aware units (headings, table rows, wrapped lines) and section paths;
# 3: chunks carry the block they start inside (a code fence), so a code comment is never a heading
VERSION_CHARS = 12  # of the document's content hash, in its chunk ids


def chunk_id(source: str, index: int, version: str = "") -> str:
    """Id of chunk ``index`` of one version (content hash) of a document.

    Two versions of a document never share a chunk id, so an index update can add the new
    version's chunks beside the old ones and delete the old ones only once the manifest no
    longer claims them: every saved manifest names chunks that are all there.
    """
    return f"{doc_key(source)}-{version[:VERSION_CHARS]}-{index:05d}"


def token_starts(tokenizer: Any, text: str) -> tuple[list[int], list[int]]:
    """Start and end character offsets of every wordpiece of ``text`` (no special tokens)."""
    offsets = tokenizer.offsets(text)
    return [a for a, _ in offsets], [b for _, b in offsets]


def chunk_document(
    doc: Document, tokenizer: Any, max_tokens: int = 200, overlap: int = 40, version: str = ""
) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_tokens`` wordpieces.

    Consecutive chunks share trailing sentences worth up to ``overlap`` wordpieces, so a fact
    that straddles a boundary is whole in at least one chunk. A sentence longer than the limit
    is cut at wordpiece boundaries. Chunks are contiguous slices of ``doc.text``.
    """
    text = doc.text
    structure = text_units(text)
    units = _units(tokenizer, text, structure, max_tokens)
    sections = _Sections(text, structure)
    blocks = _Blocks(structure)
    chunks: list[Chunk] = []
    current: list[tuple[int, int, int]] = []
    size = 0

    def emit() -> None:
        a, b = current[0][0], current[-1][1]
        if not _WORDY.search(text, a, b):
            return  # only punctuation or symbols (dot leaders, rules): nothing to find or quote
        idx = len(chunks)
        opens = blocks.at(a)
        chunks.append(
            Chunk(chunk_id(doc.source, idx, version), doc.source, idx, a, b, text[a:b], sections.at(a), opens)
        )

    for unit in units:
        if current and size + unit[2] > max_tokens:
            emit()
            carried: list[tuple[int, int, int]] = []
            carried_size = 0
            for prev in reversed(current[1:]):
                if carried_size + prev[2] > overlap or carried_size + prev[2] + unit[2] > max_tokens:
                    break
                carried.insert(0, prev)
                carried_size += prev[2]
            current, size = carried, carried_size
        current.append(unit)
        size += unit[2]
    if current:
        emit()
    return chunks


BLOCK_CHARS = 50_000  # text tokenized at once: bounds the tokenizer's memory on a huge document
_WORDY = re.compile(r"[^\W_]")  # a letter or digit in any script


class _Sections:
    """The heading path in force at any offset of a document, for chunks in increasing order."""

    def __init__(self, text: str, units: list[Unit]) -> None:
        self.headings = [(u.start, u.level, heading_title(text[u.start : u.end])) for u in units if u.kind == "heading"]
        self.path: list[tuple[int, str]] = []
        self.next = 0

    def at(self, offset: int) -> tuple[tuple[int, str], ...]:
        """Headings before ``offset``; a heading at ``offset`` is inside the chunk, not its context."""
        while self.next < len(self.headings) and self.headings[self.next][0] < offset:
            _, level, title = self.headings[self.next]
            self.path = enter(self.path, level, title)
            self.next += 1
        return tuple(self.path)


class _Blocks:
    """The block (code fence, comment, literal block) each offset lies inside, read off the
    whole document's units, so a chunk that starts inside one is read the same way alone."""

    def __init__(self, units: list[Unit]) -> None:
        self.starts = [u.start for u in units]
        self.units = units

    def at(self, offset: int) -> str:
        i = bisect.bisect_right(self.starts, offset) - 1
        return self.units[i].opens if i >= 0 and self.units[i].end > offset else ""


def _units(tokenizer: Any, text: str, structure: list[Unit], max_tokens: int) -> list[tuple[int, int, int]]:
    """(start, end, wordpieces) of each sentence, over-long ones cut to fit.

    The text is tokenized a block of whole sentences at a time: one call on a 5 MB document
    held 1.6 GB of offsets at once. Wordpieces never cross the whitespace between sentences,
    so the counts are those of the whole text.
    """
    units: list[tuple[int, int, int]] = []
    for block in _blocks(text, [(u.start, u.end) for u in structure]):
        base = block[0][0]
        starts, ends = token_starts(tokenizer, text[base : block[-1][1]])
        starts, ends = [x + base for x in starts], [x + base for x in ends]
        for a, b in block:
            lo = bisect.bisect_left(starts, a)
            hi = bisect.bisect_left(starts, b)
            if hi - lo <= max_tokens:
                units.append((a, b, hi - lo))
            else:
                units.extend(_split_long(tokenizer, text, a, b, starts, ends, lo, hi, max_tokens))
    return units


def _blocks(text: str, spans: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    """Runs of consecutive sentences of at most ``BLOCK_CHARS``; a longer sentence is cut at spaces."""
    block: list[tuple[int, int]] = []
    for span in _cut_giants(text, spans):
        if block and span[1] - block[0][0] > BLOCK_CHARS:
            yield block
            block = []
        block.append(span)
    if block:
        yield block


def _cut_giants(text: str, spans: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Each span, with one longer than ``BLOCK_CHARS`` (a single-line file) cut into pieces that fit,
    at the last whitespace before the limit when there is one."""
    for a, b in spans:
        while b - a > BLOCK_CHARS:
            cut = a + BLOCK_CHARS
            space = max(text.rfind(" ", a + 1, cut), text.rfind("\n", a + 1, cut))
            if space > a:
                cut = space
            yield a, cut
            a = cut
            while a < b and text[a].isspace():
                a += 1
        if b > a:
            yield a, b


def _count(tokenizer: Any, text: str) -> int:
    return int(tokenizer.count(text))


def _split_long(
    tokenizer: Any, text: str, a: int, b: int, starts: list[int], ends: list[int], lo: int, hi: int, max_tokens: int
) -> list[tuple[int, int, int]]:
    """Cut one over-long sentence into contiguous pieces within the limit, at word starts when possible.

    A piece cut inside a word re-tokenizes differently (``##wer`` becomes ``we ##r``), so each
    piece is re-counted and shortened until it fits.
    """
    pieces: list[tuple[int, int, int]] = []
    piece_start, i = a, lo
    while i < hi:
        j = min(i + max_tokens, hi)
        if j < hi:
            k = j
            while k > i + 1 and not text[starts[k] - 1].isspace():
                k -= 1
            if k > i + 1:
                j = k
        piece_end = b if j == hi else ends[j - 1]
        n = _count(tokenizer, text[piece_start:piece_end])
        while n > max_tokens and j > i + 1:
            j -= 1
            piece_end = ends[j - 1]
            n = _count(tokenizer, text[piece_start:piece_end])
        pieces.append((piece_start, piece_end, n))
        piece_start, i = piece_end, j
        while piece_start < b and text[piece_start].isspace():
            piece_start += 1
    return pieces
