"""Turn a corpus path into documents: a folder of .txt/.md/.html/.pdf/.docx files, or a .jsonl file.

Offsets everywhere in the system index the text these loaders produce. For .txt and .md the
text is exactly what ``Path.read_text(encoding="utf-8")`` returns (universal newlines), so a
citation can be checked against the file itself.
"""

from __future__ import annotations

import bisect
import codecs
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rag.errors import CorpusError, LoadError
from rag.ingest.pdf_text import pdf_text
from rag.ingest.titles import first_line_title
from rag.ingest.webpage import html_text
from rag.types import CONTROL_CHARS, Document, SkippedFile


class Reader(Protocol):
    """How one format becomes text: its text and title, and where its pages start (if it has pages).

    A new format is one reader here (with its module beside this one) and nothing else: the page
    of a citation is asked of the reader of its document (``rag.ingest.documents``).
    """

    suffixes: frozenset[str]
    paged: bool

    def read(self, raw: bytes, max_seconds: float) -> tuple[str, str]:
        """(text, title) of a file's bytes, or ``LoadError``; ``max_seconds`` bounds a slow format."""
        ...

    def page_starts(self, text: str) -> tuple[int, ...]:
        """The offset each page of ``text`` starts at (the first at 0); ``()`` for a format without pages."""
        ...


class _TextReader:
    """Plain text, Markdown and reStructuredText: the decoded file itself, so a quote is checkable against it."""

    suffixes = frozenset({".txt", ".md", ".markdown", ".rst"})
    paged = False

    def read(self, raw: bytes, max_seconds: float) -> tuple[str, str]:
        text = decode_text(raw)
        return text, first_line_title(text)

    def page_starts(self, text: str) -> tuple[int, ...]:
        return ()


class _HtmlReader(_TextReader):
    """A saved web page: its main content as Markdown-shaped lines (``rag.ingest.webpage``)."""

    suffixes = frozenset({".html", ".htm"})

    def read(self, raw: bytes, max_seconds: float) -> tuple[str, str]:
        return html_text(decode_text(raw))


class _DocxReader(_TextReader):
    """A Word document (``rag.ingest.docx_text``)."""

    suffixes = frozenset({".docx"})

    def read(self, raw: bytes, max_seconds: float) -> tuple[str, str]:
        from rag.ingest.docx_text import docx_text

        return docx_text(raw)


class _PdfReader:
    """A PDF (``rag.ingest.pdf_text``): its pages joined by form feeds."""

    suffixes = frozenset({".pdf"})
    paged = True

    def read(self, raw: bytes, max_seconds: float) -> tuple[str, str]:
        return pdf_text(raw, max_seconds)

    def page_starts(self, text: str) -> tuple[int, ...]:
        return (0, *(m.end() for m in re.finditer("\f", text)))


TEXT: Reader = _TextReader()
READERS: tuple[Reader, ...] = (TEXT, _HtmlReader(), _PdfReader(), _DocxReader())


def reader_for(name: str) -> Reader | None:
    """The reader of a file named ``name``, by its suffix (None: not a format rag reads)."""
    suffix = Path(name).suffix.lower()
    return next((r for r in READERS if suffix in r.suffixes), None)


def page_at(starts: tuple[int, ...], offset: int) -> int | None:
    """The page (from 1) holding ``offset``, given where each page starts; None without pages."""
    return bisect.bisect_right(starts, offset) if starts else None


SUPPORTED_SUFFIXES = set().union(*(r.suffixes for r in READERS))


@dataclass(frozen=True)
class SourceFile:
    """A file found in a folder corpus, before it is read."""

    source: str
    path: Path
    size: int
    mtime_ns: int
    ctime_ns: int = -1


_SURROGATES = re.compile("[\ud800-\udfff]")


def bad_name(name: str) -> str | None:
    """Why a file name or document id cannot be stored and cited, or None if it can."""
    if _SURROGATES.search(name):
        return "name is not valid UTF-8; rename it"
    if CONTROL_CHARS.search(name):
        return "name contains a control character (a line break or tab); rename it"
    return None


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def is_jsonl_corpus(corpus: Path) -> bool:
    return corpus.is_file() and corpus.suffix.lower() == ".jsonl"


def check_corpus_path(corpus: Path) -> Path:
    """Resolve ``corpus`` or raise a one-line error naming it."""
    if not corpus.exists():
        raise CorpusError(f"corpus path does not exist: {corpus}")
    if corpus.is_file() and not is_jsonl_corpus(corpus):
        raise CorpusError(f"corpus must be a folder or a .jsonl file: {corpus}")
    return corpus.resolve()


def scan_folder(root: Path) -> tuple[list[SourceFile], list[SkippedFile]]:
    """List candidate files below ``root`` (hidden entries and symlinked folders are not followed)."""
    found: list[SourceFile] = []
    skipped: list[SkippedFile] = []

    def unreadable(err: OSError) -> None:  # os.walk would drop these silently
        where = Path(err.filename or root)
        source = where.relative_to(root).as_posix() if where.is_relative_to(root) else str(where)
        skipped.append(SkippedFile(source + "/", f"cannot read folder ({err.strerror or err})"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=unreadable):
        followed = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            if os.path.islink(os.path.join(dirpath, d)):
                source = Path(dirpath, d).relative_to(root).as_posix()
                skipped.append(SkippedFile(source, "symlinked folder not followed (it could loop or leave the corpus)"))
            else:
                followed.append(d)
        dirnames[:] = followed
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath, name)
            source = path.relative_to(root).as_posix()
            why = bad_name(source)
            if why is not None:
                skipped.append(SkippedFile(source, why))
                continue
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                skipped.append(SkippedFile(source, f"unsupported file type '{path.suffix or name}'"))
                continue
            if path.is_symlink():  # like symlinked folders: its target may be anywhere on the machine
                skipped.append(SkippedFile(source, "symlinked file not followed (it could leave the corpus)"))
                continue
            try:
                st = path.stat()
            except OSError as err:
                skipped.append(SkippedFile(source, f"cannot read file ({err.strerror or err})"))
                continue
            if not path.is_file():
                skipped.append(SkippedFile(source, "not a regular file"))
                continue
            found.append(SourceFile(source, path, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return found, skipped


def read_file(path: Path, source: str, max_bytes: int, max_seconds: float = 60.0) -> Document:
    """Read one file into a Document, or raise LoadError with the reason it is unusable.

    ``max_seconds`` bounds PDF extraction, the one loader whose time is not linear in the size.
    """
    raw = read_regular(path, max_bytes)
    if not raw.strip():
        raise LoadError("empty file")
    reader = reader_for(path.name) or TEXT
    text, title = reader.read(raw, max_seconds)
    if not text.strip():
        raise LoadError("no text could be extracted")
    return Document(source=source, text=text, title=title or source)


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a symlink) of at most ``max_bytes``.

    Opened without following a final symlink and without blocking, then checked on the open
    descriptor: a FIFO or device put where a document was (even after the folder scan) is
    refused at once instead of blocking the reader forever. A file over the limit is never opened.
    """
    try:
        _usable(os.lstat(path), max_bytes)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise LoadError(f"cannot read file ({err.strerror or err})") from err
    with os.fdopen(fd, "rb") as fh:
        _usable(os.fstat(fd), max_bytes)  # what was opened, if the file was swapped since the lstat
        try:
            raw = fh.read(max_bytes + 1)
        except OSError as err:
            raise LoadError(f"cannot read file ({err.strerror or err})") from err
    if len(raw) > max_bytes:  # it grew since the check
        raise LoadError(f"file is larger than the limit of {max_bytes} bytes (over {max_bytes} bytes)")
    return raw


def _usable(st: os.stat_result, max_bytes: int) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise LoadError("symlinked file not followed (it could leave the corpus)")
    if not stat.S_ISREG(st.st_mode):
        raise LoadError("not a regular file")
    if st.st_size > max_bytes:
        raise LoadError(f"file is larger than the limit of {max_bytes} bytes ({st.st_size} bytes)")


_UNICODE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)  # fmt: skip


def decode_text(raw: bytes) -> str:
    """UTF-8 when it is; UTF-16/32 with a byte-order mark; otherwise the encoding
    charset-normalizer finds (Latin-1, Windows-1252, Shift-JIS...). Offsets index the decoded text."""
    text = None
    for bom, codec in _UNICODE_BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError as err:
                raise LoadError(f"not valid {codec.upper()} (at byte offset {err.start})") from err
            break
    if text is None:
        if b"\x00" in raw:
            raise LoadError("binary file (contains NUL bytes)")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            text = _detected(raw, err)
    # Same newline handling as Path.read_text, so offsets match the file as Python reads it.
    return text.replace("\r\n", "\n").replace("\r", "\n")


_UTF8_LIKE = re.compile(rb"[\xc0-\xf7][\x80-\xbf]")  # where decoding failed: a damaged UTF-8 sequence
# The lead byte of UTF-8's Latin-1 letters (é is C3 A9) before an ASCII non-letter: Latin-1 text
# almost never has "Ã" or "Â" before punctuation, a space or a digit ("SÃO" has a letter after it).
_CUT_LEAD = re.compile(rb"[\xc2\xc3][\x00-\x40\x5b-\x60\x7b-\x7f]")


def _mostly_ascii(sample: bytes) -> bool:
    """Few bytes beyond ASCII (3, or 2 %): English-like text, not Cyrillic or CJK in an 8-bit code."""
    return sum(b > 127 for b in sample) <= max(3, 0.02 * len(sample))


OTHER_ENCODINGS = [
    "cp1251",
    "koi8_r",
    "cp1250",
    "iso8859_7",
    "cp1253",
    "shift_jis",
    "euc_jp",
    "gb18030",
    "big5",
    "euc_kr",
]


def _detected(raw: bytes, err: UnicodeDecodeError) -> str:
    """Text in another encoding than UTF-8, or a LoadError when it is broken UTF-8 or unknown.

    Western text (Latin-1, Windows-1252) is by far the most common case and the one detectors
    get wrong on short files (charset-normalizer reads "Café Zürich" as cp775): it is taken when
    it decodes and most of its letters are ASCII. Other scripts go to charset-normalizer.
    """
    where = f"byte 0x{raw[err.start]:02x} at offset {err.start}"
    sample = raw[:1_000_000]  # the first megabyte decides, in bounded time
    damaged = (
        err.reason == "unexpected end of data"
        or _UTF8_LIKE.match(raw, err.start)
        or (_CUT_LEAD.match(raw, err.start) and _mostly_ascii(sample))  # "Ã(": é's lead byte, cut off
    )
    as_utf8 = sample.decode("utf-8", "replace")
    bad = as_utf8.count("\ufffd")
    if damaged or sum(ord(ch) > 127 for ch in as_utf8) - bad >= bad:  # mostly good UTF-8, some damage
        raise LoadError(f"not valid UTF-8 ({where})")  # UTF-8 with damaged sequences, not another encoding
    try:
        western = sample.decode("cp1252")
    except UnicodeDecodeError:
        western = ""
    letters = [ch for ch in western if ch.isalpha()]
    if letters and sum(not ch.isascii() for ch in letters) <= 0.3 * len(letters):
        return raw.decode("cp1252", errors="replace")
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_isolation=OTHER_ENCODINGS).best()
    if best is None or best.chaos > 0.2:
        raise LoadError(f"not valid UTF-8, and no other text encoding fits ({where})")
    try:
        return raw.decode(best.encoding)
    except (UnicodeDecodeError, LookupError):
        raise LoadError(f"not valid UTF-8, nor {best.encoding} throughout ({where})") from None


def iter_jsonl(corpus: Path, max_bytes: int | None = None) -> Iterator[Document | SkippedFile]:
    """Documents of a .jsonl corpus; bad lines come out as SkippedFile entries.

    A byte-order mark before the first record is ignored; a record over ``max_bytes`` is
    skipped; a lone surrogate in a text (JSON allows ``"\\ud800"``) becomes U+FFFD, one
    character for one, so offsets hold.
    """
    for _, item in iter_jsonl_located(corpus, max_bytes):
        yield item


def iter_jsonl_located(
    corpus: Path, max_bytes: int | None = None
) -> Iterator[tuple[tuple[int, int], Document | SkippedFile]]:
    """``iter_jsonl``, each item with where its line starts: (byte offset, line number), for ``read_jsonl_at``."""
    seen: set[str] = set()
    try:
        handle = corpus.open("rb")
    except OSError as err:
        raise CorpusError(f"cannot read corpus file {corpus}: {err.strerror or err}") from err
    with handle:
        offset = 0
        for lineno, line in enumerate(handle, start=1):
            at, offset = offset, offset + len(line)
            raw = _without_bom(line, lineno)
            if not raw.strip():
                continue
            where = f"{corpus.name}:{lineno}"
            if max_bytes is not None and len(raw) > max_bytes:
                yield (
                    (at, lineno),
                    SkippedFile(where, f"record is larger than the limit of {max_bytes} bytes ({len(raw)} bytes)"),
                )
                continue
            item = _record(raw, where, lineno, seen)
            if isinstance(item, Document):
                seen.add(item.source)
            yield (at, lineno), item


def read_jsonl_at(corpus: Path, at: tuple[int, int]) -> Document | None:
    """The document on the line ``iter_jsonl_located`` found at ``at``; None if that line is no longer one."""
    offset, lineno = at
    try:
        with corpus.open("rb") as handle:
            handle.seek(offset)
            line = handle.readline()
    except OSError:
        return None
    item = _record(_without_bom(line, lineno), f"{corpus.name}:{lineno}", lineno, set())
    return item if isinstance(item, Document) else None


def _without_bom(line: bytes, lineno: int) -> bytes:
    """A byte-order mark before the first record is not part of it."""
    return line[3:] if lineno == 1 and line.startswith(b"\xef\xbb\xbf") else line


def _record(raw: bytes, where: str, lineno: int, seen: set[str]) -> Document | SkippedFile:
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return SkippedFile(where, "line is not valid UTF-8")
    except json.JSONDecodeError as err:
        return SkippedFile(where, f"invalid JSON ({err.msg})")
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        return SkippedFile(where, "line needs an object with a string 'text'")
    raw_id = row.get("id")
    doc_id = "" if raw_id is None else str(raw_id).strip()
    if not doc_id:
        return SkippedFile(where, "line has no 'id'")
    why = bad_name(doc_id)
    if why is not None:
        return SkippedFile(where, f"id {why}")
    if doc_id in seen:
        return SkippedFile(doc_id, f"duplicate id at line {lineno}")
    if not row["text"].strip():
        return SkippedFile(doc_id, "empty text")
    text = _SURROGATES.sub("\ufffd", row["text"])
    title = _SURROGATES.sub("\ufffd", str(row.get("title") or doc_id))
    return Document(source=doc_id, text=text, title=title)
