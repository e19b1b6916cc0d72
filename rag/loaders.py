"""Turn a corpus path into documents: a folder of .txt/.md/.html/.pdf files, or a .jsonl file.

Offsets everywhere in the system index the text these loaders produce. For .txt and .md the
text is exactly what ``Path.read_text(encoding="utf-8")`` returns (universal newlines), so a
citation can be checked against the file itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

from rag.errors import CorpusError, LoadError
from rag.types import CONTROL_CHARS, Document, SkippedFile

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
PDF_MEMORY_MB = 2048  # address-space cap of the PDF extraction process


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
    try:
        size = path.stat().st_size
    except OSError as err:
        raise LoadError(f"cannot read file ({err.strerror or err})") from err
    if size > max_bytes:
        raise LoadError(f"file is larger than the limit of {max_bytes} bytes ({size} bytes)")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise LoadError(f"cannot read file ({err.strerror or err})") from err
    if not raw.strip():
        raise LoadError("empty file")
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        text, title = _pdf_text(raw, max_seconds)
    else:
        decoded = _decode_text(raw)
        if suffix in HTML_SUFFIXES:
            text, title = _html_text(decoded)
        else:
            text, title = decoded, _first_line_title(decoded)
    if not text.strip():
        raise LoadError("no text could be extracted")
    return Document(source=source, text=text, title=title or source)


def _decode_text(raw: bytes) -> str:
    if b"\x00" in raw:
        raise LoadError("binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise LoadError(f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})") from err
    # Same newline handling as Path.read_text, so offsets match the file as Python reads it.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _first_line_title(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("\ufeff#").strip()
        if line:
            return line[:120]
    return ""


class _HTMLText(HTMLParser):
    """Visible text of an HTML page: block elements become line breaks, scripts are dropped."""

    BLOCK: ClassVar[frozenset[str]] = frozenset({
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
        "table", "section", "article", "header", "footer", "blockquote", "pre", "title", "hr",
    })  # fmt: skip
    HIDDEN: ClassVar[frozenset[str]] = frozenset({"script", "style", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self.HIDDEN:
            self._hidden += 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.HIDDEN and self._hidden:
            self._hidden -= 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._hidden:
            self.parts.append(data)


def _html_text(markup: str) -> tuple[str, str]:
    parser = _HTMLText()
    try:
        parser.feed(markup)
        # A tag, comment or declaration still open at the end of the file runs to the end and
        # shows nothing (as in HTML5 and Python >= 3.11.13). Dropping it before close() also
        # avoids the quadratic time close() takes on it in older Pythons (CVE-2025-6069):
        # 160 KB of "<!--" took 8 s and a few MB would hang indexing for hours.
        if parser.rawdata.startswith("<") and parser.cdata_elem is None:
            parser.rawdata = ""
        parser.close()
    except Exception as err:  # html.parser is lenient; anything raised here means garbage input
        raise LoadError(f"invalid HTML ({err})") from err
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    paragraphs: list[str] = []
    for line in lines:
        if line:
            paragraphs.append(line)
    title = " ".join(" ".join(parser.title_parts).split())
    return "\n\n".join(paragraphs), title


def _pdf_text(raw: bytes, max_seconds: float) -> tuple[str, str]:
    if not raw.startswith(b"%PDF"):
        raise LoadError("not a PDF file (no %PDF header)")
    import subprocess
    import sys

    try:
        proc = subprocess.run(
            [sys.executable, "-m", "rag.pdf_worker", str(PDF_MEMORY_MB)],
            input=raw,
            capture_output=True,
            timeout=max_seconds,
        )
    except subprocess.TimeoutExpired:
        raise LoadError(f"PDF text extraction took longer than the limit of {max_seconds:g} s") from None
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise LoadError(f"unreadable PDF (extraction failed: {last[:200]})") from None
    if "error" in result:
        raise LoadError(str(result["error"]))
    text = str(result["text"])
    if not text.strip():
        raise LoadError("PDF has no extractable text (scanned images?)")
    return text, str(result["title"]) or _first_line_title(text)


def iter_jsonl(corpus: Path, max_bytes: int | None = None) -> Iterator[Document | SkippedFile]:
    """Documents of a .jsonl corpus; bad lines come out as SkippedFile entries.

    A byte-order mark before the first record is ignored; a record over ``max_bytes`` is
    skipped; a lone surrogate in a text (JSON allows ``"\\ud800"``) becomes U+FFFD, one
    character for one, so offsets hold.
    """
    seen: set[str] = set()
    try:
        handle = corpus.open("rb")
    except OSError as err:
        raise CorpusError(f"cannot read corpus file {corpus}: {err.strerror or err}") from err
    with handle:
        for lineno, raw in enumerate(handle, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            where = f"{corpus.name}:{lineno}"
            if max_bytes is not None and len(raw) > max_bytes:
                yield SkippedFile(where, f"record is larger than the limit of {max_bytes} bytes ({len(raw)} bytes)")
                continue
            item = _record(raw, where, lineno, seen)
            if isinstance(item, Document):
                seen.add(item.source)
            yield item


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
