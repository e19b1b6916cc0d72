"""Turn a corpus path into documents: a folder of .txt/.md/.html/.pdf/.docx files, or a .jsonl file.

Offsets everywhere in the system index the text these loaders produce. For .txt and .md the
text is exactly what ``Path.read_text(encoding="utf-8")`` returns (universal newlines), so a
citation can be checked against the file itself.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import CorpusError, LoadError
from rag.ingest.webpage import html_text
from rag.types import CONTROL_CHARS, Document, SkippedFile

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
DOCX_SUFFIXES = {".docx"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | DOCX_SUFFIXES
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
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        text, title = _pdf_text(raw, max_seconds)
    elif suffix in DOCX_SUFFIXES:
        from rag.ingest.docx_text import docx_text

        text, title = docx_text(raw)
    else:
        decoded = decode_text(raw)
        if suffix in HTML_SUFFIXES:
            text, title = html_text(decoded)
        else:
            text, title = decoded, _first_line_title(decoded)
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


_JUNK_TITLE = re.compile(
    r"^(?:about:blank|untitled(?: document)?|document\d*|title|none|null|microsoft (?:word|powerpoint) - .*"
    r"|.*\.(?:docx?|pdf|tmp|rtf|odt|indd|qxd))$",
    re.IGNORECASE,
)


def _sane_title(title: str) -> str:
    """A PDF's metadata title, or "" when it is junk (``about:blank``, ``Microsoft Word - x.doc``)."""
    title = " ".join(title.split())
    if not re.search(r"[^\W\d_]", title) or _JUNK_TITLE.match(title):
        return ""
    return title[:120]


_FIELD = re.compile(r"([A-Za-z][A-Za-z-]{0,30}):[ \t]+(\S.*)")
_RULE = re.compile(r"([=\-~^\"'`#*+:._<>])\1{2,}")


def _first_line_title(text: str) -> str:
    """The document's title: a ``Title:`` field of a header block at its top (PEPs, RFC-style
    notes), else its first line of text (a Markdown ``#`` or an rST over/underline left out)."""
    lines = text.lstrip("\ufeff").splitlines()
    for line in lines[:40]:  # the header block, up to its first blank line
        m = _FIELD.match(line.strip())
        if not line.strip() or (m is None and not line[:1].isspace()):
            break
        if m is not None and m.group(1).lower() == "title":
            return m.group(2).strip()[:120]
    for line in lines:
        line = line.strip().lstrip("#").strip()
        if line and not _RULE.fullmatch(line):
            return line[:120]
    return ""


def _pdf_text(raw: bytes, max_seconds: float) -> tuple[str, str]:
    if not raw.startswith(b"%PDF"):
        raise LoadError("not a PDF file (no %PDF header)")
    import subprocess
    import sys

    try:
        proc = subprocess.run(
            [sys.executable, "-m", "rag.ingest.pdf_worker", str(PDF_MEMORY_MB)],
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
    text = _typeset(str(result["text"]))
    if not text.strip():
        raise LoadError("PDF has no extractable text (scanned images?)")
    meta, printed = _sane_title(_typeset(str(result["title"]))), _pdf_title(text)
    return _unfurnished(text), printed if meta and _below(meta, printed, text) else meta or printed


_LIGATURES = {c: unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}  # ﬁ -> fi
_LINE_END_HYPHEN = re.compile(r"\b((?:[^\W\d_]+-)*[^\W\d_]+)-\n[ \t]*([^\W\d_]+)(\S*)[ \t]*")
# what a word's second half is when the hyphen only broke it ("consider-\nable")
_SUFFIXES = (
    "able ible ing ings ment ments tion tions sion sions ness less ful ly ed er ers est ity ities "
    "ance ence ive al ous ary ize ise ized ised ism ist ists"
)
_SUFFIX = frozenset(_SUFFIXES.split())


def _typeset(text: str) -> str:
    """PDF text as the words were written: ligatures (``ﬁ``) as their letters, so "five" finds
    "ﬁve", and a word hyphenated at a line end ("Of-\nten") joined on the first line, keeping
    the hyphen only where it is the word's own ("coarse-\ngrained"): the document says so
    elsewhere, or both halves are words of it (the second no suffix such as "-able") and the
    joined form is not. Citations are offsets into this text, so they stay verbatim."""
    text = text.translate(_LIGATURES)
    words = set(re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", _LINE_END_HYPHEN.sub(" ", text).lower()))

    def join(m: re.Match[str]) -> str:
        a, b = m.group(1), m.group(2)
        whole, compound = f"{a}{b}".lower(), f"{a}-{b}".lower()
        if whole in words:
            kept = False
        elif compound in words:
            kept = True
        else:
            kept = b.lower() not in _SUFFIX and a.lower().split("-")[-1] in words and b.lower() in words
        return f"{a}{'-' if kept else ''}{b}{m.group(3)}\n"

    return _LINE_END_HYPHEN.sub(join, text)


def _below(meta: str, printed: str, text: str) -> bool:
    """Whether a metadata title is a line printed under the page's own title (an author's name
    set as the PDF's title, "Jim Waldo" for "A Note on Distributed Computing")."""
    lines = [" ".join(line.split()).lower() for line in text.split("\f", 1)[0].splitlines()]
    head = printed.split(" ")[0].lower() if printed else ""
    if not head or meta.lower() == printed.lower() or meta.lower() not in lines:
        return False
    first = next((i for i, line in enumerate(lines) if printed.lower().startswith(line) and line), None)
    return first is not None and first < lines.index(meta.lower())


_TRAILING_WORD = re.compile(r"(?:\b(?:a|an|the|of|for|in|on|and|or|to|with|from|by|as|at)|[:,\-–—])\s*$", re.I)


def _edge_key(line: str) -> str:
    """A line as running headers repeat it: case and numbers aside ("SALTZER ET AL. … 2")."""
    return re.sub(r"\d+", "#", line.strip().lower())


def _running(pages: list[list[str]], least: int) -> set[str]:
    """Keys of lines at a page's top or bottom two that are at the edges of ``least`` pages."""
    seen: dict[str, int] = {}
    for page in pages:
        for key in {_edge_key(line) for line in page[:2] + page[-2:]}:
            seen[key] = seen.get(key, 0) + 1
    return {key for key, n in seen.items() if n >= least}


def _unfurnished(text: str) -> str:
    """PDF text without what the printer puts on every page: running headers and footers (a
    line among a page's first or last two that is at the edges of three pages or more, numbers
    aside: "SALTZER ET AL. End-to-End Arguments in System Design 2"; a label of at most 12 words,
    not a sentence, and of three words or more where its numbers change) and page numbers (a
    number alone at a page's edge that counts up with the pages). They were read as words of the
    sentences beside them ("… in System Design 8 History, …"). Pages (form feeds) stay, so
    cited pages hold; on the first page a running line without digits is the title set as
    the header, and stays."""
    pages = text.split("\f")
    lines = [page.split("\n") for page in pages]
    filled = [[line for line in page if line.strip()] for page in lines]
    running = _running(filled, 3)
    offsets: dict[int, int] = {}  # page number printed minus page index: the book's numbering
    for i, page in enumerate(filled):
        for line in {*page[:2], *page[-2:]}:
            if re.fullmatch(r"\s*\d{1,4}\s*", line):
                offsets[int(line) - i] = offsets.get(int(line) - i, 0) + 1
    numbering = {k for k, n in offsets.items() if n >= 2}
    out = []
    for i, page in enumerate(lines):
        filled_at = [j for j, line in enumerate(page) if line.strip()]
        edge = {*filled_at[:2], *filled_at[-2:]}
        out.append(
            "\n".join(
                line for j, line in enumerate(page) if j not in edge or not _furniture(line, i, running, numbering)
            )
        )
    return "\f".join(out)


def _furniture(line: str, page: int, running: set[str], numbering: set[int]) -> bool:
    """Whether a line at a page's edge is a page number or a running header or footer."""
    if re.fullmatch(r"\s*\d{1,4}\s*", line):
        return int(line) - page in numbering
    words = line.split()
    if _edge_key(line) not in running or len(words) > 12 or re.search(r"[.!?]\W*$", line):
        return False  # a header is a label: short, no sentence ("The pdf3 valve … closes at dusk.")
    if re.search(r"\d", line):
        return len(words) >= 3  # "Section 2" on page 2 is a heading; "SALTZER ET AL. … 2" a header
    return page > 0  # on the first page, the title set as the header


def _pdf_title(text: str) -> str:
    """The title printed on a PDF's first page, for a file whose metadata has none.

    Lines that open or close two pages or more are running headers and footers ("SALTZER ET
    AL. 1"), never the title; page numbers and lines without letters are skipped; a title cut
    by a line break after "in", "of", a colon… goes on with the next line.
    """
    pages = [[line.strip() for line in page.strip().splitlines() if line.strip()] for page in text.split("\f")]

    key = _edge_key
    running = _running(pages, 2)
    first = [
        line for line in (pages[0] if pages else []) if key(line) not in running and re.search(r"[A-Za-z]{2}", line)
    ]
    if not first:
        return _first_line_title(text)
    title = first[0]
    top = pages[0][0] if pages and pages[0] else ""
    if key(top) in running and not re.search(r"\d", top) and len(top.split()) >= 3:
        title = top  # the title repeated as every page's header ("A Note on Distributed Computing")
    for line in first[1:3]:
        if not _TRAILING_WORD.search(title) or len(title) + len(line) > 160:
            break
        title = f"{title} {line}"
    return title[:200]


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
