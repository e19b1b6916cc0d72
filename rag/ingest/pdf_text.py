"""PDF: the text of every page (pages separated by form feeds), typeset back into words, with a title.

Extraction runs in a separate process (``rag.ingest.pdf_worker``) under a memory cap and a time
limit: a hostile or broken PDF costs that process, never the indexer. Running headers, footers and
page numbers are left out; ligatures become letters and line-end hyphenation is joined.
"""

from __future__ import annotations

import json
import re
import unicodedata

from rag.errors import LoadError
from rag.ingest.titles import first_line_title, sane_title

PDF_MEMORY_MB = 2048  # address-space cap of the PDF extraction process


def pdf_text(raw: bytes, max_seconds: float) -> tuple[str, str]:
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
    meta, printed = sane_title(_typeset(str(result["title"]))), _pdf_title(text)
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
        return first_line_title(text)
    title = first[0]
    top = pages[0][0] if pages and pages[0] else ""
    if key(top) in running and not re.search(r"\d", top) and len(top.split()) >= 3:
        title = top  # the title repeated as every page's header ("A Note on Distributed Computing")
    for line in first[1:3]:
        if not _TRAILING_WORD.search(title) or len(title) + len(line) > 160:
            break
        title = f"{title} {line}"
    return title[:200]
