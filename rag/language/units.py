"""The units a document is read in: sentences, headings, table rows, list items, code lines.

People write documents with structure: Markdown headings, tables, bullet lists, paragraphs
hard-wrapped at 72 columns. Reading them line by line quoted headings as answers, cut
sentences at every wrapped line and split table rows into meaningless pieces. Units are found
from the text alone (line shapes, as CommonMark defines them), so the same function gives the
same units on a whole document and on any chunk of it (chunks start and end on unit
boundaries, and carry the block they start inside), with offsets into that text:

- a heading (``# Title``, or a one-line title over an rST/setext underline ``=====``) is a unit
  of its own: context for the sentences under it, never quoted; the adornment lines themselves
  (underlines, overlines, transitions) are ``rule`` units, packed into chunks but never read, as
  are lines of markup alone (an HTML tag or comment, an rST directive or link target, a Markdown
  link reference definition);
- a table row is one unit; the header row (the one above ``|---|``) is context, never quoted,
  and a row reads as ``header: cell; ...`` for scoring (``Unit.reading``);
- a list item is one unit (split into sentences if it holds several), its wrapped lines joined;
- a paragraph's hard-wrapped lines are joined, so a sentence may span lines;
- a fenced code block gives one unit per line.

Plain text without any of these is split exactly as before: each line, into sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rag.language.text import sentence_spans as prose_spans
from rag.language.text import strip_span

Kind = Literal["sentence", "heading", "header", "row", "code", "rule"]
QUOTABLE: frozenset[str] = frozenset({"sentence", "row", "code"})

_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+|$)")
_ROW = re.compile(r"[ \t]*\|.*\|[ \t]*$")
_SEPARATOR = re.compile(r"[ \t]*\|?(?:[ \t]*:?-{2,}:?[ \t]*\|)+(?:[ \t]*:?-{2,}:?[ \t]*)?[ \t]*$")
_ITEM = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+\S")
_MARKER = re.compile(r"(?:[-*+•]|\d{1,3}[.)])[ \t]+")
_FENCE = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})")
_CLOSING_FENCE = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})[ \t]*$")
# A line of one punctuation mark repeated: under a one-line title, the title is a heading
# (reStructuredText, and Markdown's "Title\n====="); alone, an overline or a transition.
_ADORNMENT = re.compile(r"[ \t]*([=\-~^\"'`#*+:._<>])\1{2,}[ \t]*$")
_ADORNMENT_LEVEL = {"=": 1, "-": 2, "~": 3, "^": 4, '"': 5}
# A line that is markup, not prose: an HTML tag or comment alone on its line (Markdown allows
# them), an rST directive, comment or link target (".. code-block::", ".. _name: url"), a
# Markdown link reference definition ("[toml]: https://toml.io"). Packed into chunks, never read.
_MARKUP_LINE = re.compile(
    r"[ \t]*(?:</?[A-Za-z][^>]*>|<!--.*-->|\.\.(?:[ \t].*)?|\[[^\]\n]+\]:[ \t]+\S+(?:[ \t].*)?)[ \t]*$"
    r"|[ \t]+:[\w-]+:(?:[ \t].*)?$"  # an indented directive option (":class: good")
    # a caption alone on its line, a label of the table or listing beside it, not a sentence:
    # <span class="caption">Table 3-1: Integer Types in Rust</span>
    r"|[ \t]*<(\w+)[^>\n]*\bclass=[\"'][^\"'\n]*\bcaption\b[^>\n]*>.*</\1>[ \t]*$"
)
_OPTION = re.compile(r"[ \t]+:[\w-]+:(?:[ \t].*)?$")
_FIELD = re.compile(r"[A-Z][\w-]{0,30}:[ \t]+\S")  # "Author: …" lines of a header block: one unit each
# A section title as a PDF's text (or a plain text file) shows it: a line alone, without a
# sentence's end, numbered as sections are ("2 Design", "2.1 Goals", "IV. Results") or in
# capitals ("ABSTRACT", "1. INTRODUCTION"). "1. Install Rust" stays a list item.
_SECTION_NUMBER = re.compile(r"(?:(\d{1,2}(?:\.\d{1,2})*)\.?|([IVX]{1,5})\.)[ \t]+(?=[A-Z])")
_TITLE_MAX = 80  # characters
_TITLE_WORDS = 10
_WRAP_MIN = 40  # a line this long, followed by more prose, was wrapped, not ended
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)\]]*\s*$")  # a line that ends a sentence ends it, wrapped or not


@dataclass(frozen=True)
class Unit:
    start: int
    end: int
    kind: Kind = "sentence"
    level: int = 0  # of a heading
    header: tuple[str, ...] = ()  # of a table row: the cells of its table's header row
    opens: str = ""  # the block the unit lies inside (see ``text_units``): a chunk starting here is read in it

    @property
    def quotable(self) -> bool:
        return self.kind in QUOTABLE

    def reading(self, text: str) -> str:
        """How the unit reads to the scorer: a row as ``header: cell; ...``, a heading without ``#``."""
        raw = text[self.start : self.end]
        if self.kind in ("row", "header"):
            cells = cells_of(raw)
            if self.kind == "row" and len(self.header) == len(cells):
                return "; ".join(f"{h}: {c}" if h else c for h, c in zip(self.header, cells, strict=True))
            return " ".join(c for c in cells if c)
        if self.kind == "heading":
            return heading_title(raw)
        return raw


def enter(path: list[tuple[int, str]], level: int, title: str) -> list[tuple[int, str]]:
    """The heading path after a heading of ``level``: deeper or equal headings end there."""
    return [*(h for h in path if h[0] < level), (level, title)]


def cells_of(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def heading_title(line: str) -> str:
    return line.strip().strip("#").strip()


def text_units(text: str, start: int = 0, end: int | None = None, opens: str = "") -> list[Unit]:
    """The units of ``text[start:end]``, in order, with offsets into ``text``.

    ``opens`` is the block ``start`` lies inside, as a unit found there on the whole document
    says (``Unit.opens``): a code fence (its marker, `````` ``` ``````), ``<!--`` (an HTML
    comment) or ``::N`` (an rST literal block under a line indented N). A chunk that starts in the
    middle of a code block is read as code, so a ``# comment`` there is never a heading.
    """
    end = len(text) if end is None else end
    scan = _Scanner(text, opens)
    pos = start
    lead = _lead(text, start)  # a text read from inside a line's indentation still has it
    while pos <= end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        scan.line(pos, line_end, lead if pos == start else 0)
        if nl < 0:
            break
        pos = nl + 1
    scan.close()
    return scan.units


def _lead(text: str, pos: int) -> int:
    """How many spaces or tabs before ``pos`` start its line (0 when ``pos`` is not inside an indentation)."""
    k = pos
    while k > 0 and text[k - 1] in " \t":
        k -= 1
    return pos - k if k == 0 or text[k - 1] == "\n" else 0


class _Scanner:
    """The state of one pass of ``text_units`` over a text's lines: the open paragraph, table and block."""

    def __init__(self, text: str, opens: str) -> None:
        self.text = text
        self.units: list[Unit] = []
        self.para: list[int] = []  # [start, end] of the open paragraph or list item
        self.last_line = ""
        self.header: tuple[str, ...] = ()
        self.fence = opens if opens[:1] in ("`", "~") else ""  # the marker of the open fenced code block
        self.prev_row: Unit | None = None
        self.para_lines = 0  # lines of the open paragraph: a one-line one above an adornment is a title
        self.in_comment = opens == "<!--"  # inside an HTML comment that spans lines
        self.in_literal = opens.startswith("::")  # after a line ending "::" (rST): the block indented deeper is code
        self.literal_indent = int(opens[2:] or 0) if self.in_literal else 0  # the indentation of that line

    def close(self) -> None:
        text, para = self.text, self.para
        if para and self.para_lines == 1 and (level := _title_level(text[para[0] : para[1]])):
            self.units.append(Unit(para[0], para[1], "heading", level=level))
            para.clear()
        if para:
            a = para[0]
            if m := _MARKER.match(text, a, para[1]):
                a = m.end()  # a list item is quoted without its bullet
            self.units.extend(Unit(x, y) for x, y in prose_spans(text, a, para[1], lines_end_sentences=False))
            para.clear()

    def line(self, pos: int, line_end: int, lead: int = 0) -> None:
        """Read the line ``text[pos:line_end]``, indented ``lead`` more than its text shows."""
        text = self.text
        line = text[pos:line_end]
        a, b = strip_span(text, pos, line_end)
        indent = len(line) - len(line.lstrip(" \t"))
        if self.in_literal and b > a and lead + indent <= self.literal_indent:
            self.in_literal = False  # the literal block ends at the first line as little indented as "::"
        if self.in_literal and b > a:
            self.close()
            literal = f"::{self.literal_indent}"
            self.units.append(Unit(a, b, "rule" if _OPTION.match(line) else "code", opens=literal))
        elif self.in_comment:
            self.in_comment = "-->" not in line
            if b > a:
                self.units.append(Unit(a, b, "rule", opens="<!--"))
        elif self.fence:
            m = _CLOSING_FENCE.match(line)
            if m and m.group(1)[0] == self.fence[0] and len(m.group(1)) >= len(self.fence):
                self.fence = ""  # CommonMark: the same character, at least as many
            elif b > a:
                self.units.append(Unit(a, b, "code", opens=self.fence))
        elif b <= a and "\f" in line and self.para and not _ENDS_SENTENCE.search(self.last_line):
            return  # a page break inside a sentence (PDF): it runs on to the next page
        else:
            self._block_line(line, a, b)
        if b > a and line.rstrip().endswith("::") and not self.fence and not self.in_comment and not self.in_literal:
            bullet = _MARKER.match(line, indent)  # in a list item, its text's indentation counts
            self.literal_indent = lead + (bullet.end() if bullet else indent)
            self.in_literal = True  # "For example::", ".. code-block::" open a block indented deeper
        self.last_line = line

    def _block_line(self, line: str, a: int, b: int) -> None:
        """A line outside code and comments: a blank, a fence, markup, a heading, a table row or prose."""
        text, para, units = self.text, self.para, self.units
        if b <= a:  # blank line: ends a paragraph and a table
            self.close()
            self.header, self.prev_row = (), None
        elif m := _FENCE.match(line):
            self.close()
            self.fence = m.group(1)
        elif line.lstrip().startswith("<!--") and "-->" not in line:
            self.close()
            self.in_comment = True
            units.append(Unit(a, b, "rule", opens="<!--"))
        elif _MARKUP_LINE.match(line):
            self.close()
            units.append(Unit(a, b, "rule"))
        elif m := _ADORNMENT.match(line):
            title = text[para[0] : para[1]] if para else ""
            if para and self.para_lines == 1 and not title.rstrip().endswith(".") and b - a >= min(len(title), 3):
                units.append(Unit(para[0], para[1], "heading", level=_ADORNMENT_LEVEL.get(m.group(1), 3)))
                para.clear()
            self.close()
            units.append(Unit(a, b, "rule"))  # an underline, overline or transition: packed, never read
        elif m := _HEADING.match(line):
            self.close()
            units.append(Unit(a, b, "heading", level=len(m.group(1))))
        elif _SEPARATOR.match(line) and self.prev_row is not None:
            row = self.prev_row
            self.header = tuple(cells_of(text[row.start : row.end]))
            units[units.index(row)] = Unit(row.start, row.end, "header")
            self.prev_row = None
        elif _ROW.match(line):
            self.close()
            self.prev_row = Unit(a, b, "row", header=self.header)
            units.append(self.prev_row)
        elif _ITEM.match(line):
            self.close()
            para[:], self.para_lines = [a, b], 1
        elif (
            para
            and not _ENDS_SENTENCE.search(self.last_line)
            and (len(self.last_line.strip()) >= _WRAP_MIN or line[:1] in " \t")
            and not (_FIELD.match(line) and _FIELD.match(self.last_line))
        ):
            para[1] = b  # a wrapped line of the same paragraph or list item
            self.para_lines += 1
        else:
            self.close()
            para[:], self.para_lines = [a, b], 1


def _title_level(line: str) -> int:
    """The level of a one-line paragraph that is a section title by its shape, or 0.

    Numbered: "2 Design" (1), "2.1 Goals" (2), "IV. Results" (1), where a number followed by a
    period alone ("1. Install Rust") is a list item; in capitals: "ABSTRACT", "1. INTRODUCTION"
    (its number's depth, or 1).
    """
    if len(line) > _TITLE_MAX or line[-1:] in ".!?:;,-–—\"'”’)" or len(line.split()) > _TITLE_WORDS:
        return 0
    m = _SECTION_NUMBER.match(line)
    rest = line[m.end() :] if m else line
    letters = [ch for ch in rest if ch.isalpha()]
    if len(letters) >= 4 and all(ch.isupper() for ch in letters) and any(w.isalpha() for w in rest.split()):
        return m.group(1).count(".") + 1 if m and m.group(1) else 1
    if m and m.group(1) and not line[m.start(1) + len(m.group(1)) :].startswith(".") and "." not in m.group(1):
        return 1 if _words_title(rest) else 0  # "2 Design" (no period after the number)
    if m and m.group(1) and "." in m.group(1):
        return m.group(1).count(".") + 1 if _words_title(rest) else 0  # "2.1 Goals", "2.1. Goals"
    if m and m.group(2):
        return 1 if _words_title(rest) else 0  # "IV. Results"
    return 0


def _words_title(rest: str) -> bool:
    """Words as a title has them: no digits-only tail, at least one word of letters."""
    words = rest.split()
    return bool(words) and any(w[:1].isalpha() and len(w) > 1 for w in words)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of every unit of ``text[start:end]``: what chunks are packed from."""
    return [(u.start, u.end) for u in text_units(text, start, end)]


@dataclass(frozen=True)
class Reading:
    """A quotable unit of a chunk as the scorer reads it."""

    start: int
    end: int
    own: str  # what the unit itself says: a row as ``header: cell; ...``
    section: str = ""  # the heading path it sits under

    @property
    def text(self) -> str:
        """The unit in its place, for similarity: ``Memo > Crew: role: captain; ...``."""
        return f"{self.section}: {self.own}" if self.section else self.own


def readings(text: str, headings: tuple[tuple[int, str], ...] = (), opens: str = "") -> list[Reading]:
    """Each quotable unit of ``text`` (a chunk) with its reading, for the scorer.

    ``headings`` is the heading path at the start of ``text`` (the chunk's) and ``opens`` the
    block it starts inside; headings inside it update the path. Headings and header rows are
    left out: context, never an answer.
    """
    path = list(headings)
    out: list[Reading] = []
    for u in text_units(text, opens=opens):
        if u.kind == "heading":
            path = enter(path, u.level, heading_title(text[u.start : u.end]))
        elif u.quotable:
            out.append(Reading(u.start, u.end, u.reading(text), " > ".join(title for _, title in path)))
    return out


def section_at(text: str, offset: int) -> str:
    """The heading path (``Memo > Crew``) in force at ``offset`` of a whole document."""
    path: list[tuple[int, str]] = []
    for u in text_units(text, 0, min(len(text), offset)):
        if u.kind == "heading":
            path = enter(path, u.level, heading_title(text[u.start : u.end]))
    return " > ".join(title for _, title in path)
