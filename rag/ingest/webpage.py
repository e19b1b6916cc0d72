"""The main text of a saved web page, written as the Markdown shapes ``rag.language.units`` reads.

Two readers, each doing what it does well. Our tag-based parser gives the structure: headings
become ``# Heading`` lines (section context, never quoted), list items ``- item``, table rows
``| cell | cell |`` with a ``|---|`` line under a header row, ``<pre>`` keeps its lines, and
scripts, menus, asides, forms and footers are dropped. trafilatura (a well-kept main-content
extractor) decides which of those lines are content: on the saved pages of
``eval/datasets/web_pages.jsonl`` the tag parser alone leaked 76% of the boilerplate strings
(class-named sidebars, cookie banners, share bars, comments), trafilatura 8%, at the same
content recall (``python -m eval.web_extract``). Its own rendering is not used: on small pages
it drops headings or flattens everything into one paragraph. Pages over ``MAX_MAIN_CHARS``
are read by tags alone.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import ClassVar

from rag.errors import LoadError

MIN_CHARS = 200  # a shorter page has no room for boilerplate; trafilatura misreads fragments
MIN_SHARE = 4  # trafilatura must keep at least 1/MIN_SHARE of the text, or it misread the page
WINDOW = 200  # how far past the last kept line the next content line may start in its text
# trafilatura's time grows faster than the page (1 MB: 1.3 s, 10 MB: 48 s); a bigger page is
# read by tags alone, which is linear (10 MB: 1.7 s).
MAX_MAIN_CHARS = 2_000_000
LONG_LINE = 40  # a line this long (without spaces) is looked for anywhere ahead: resync
# Noscript text shows to no one with scripts; permalink and edit markers sit inside headings.
_MARKER_CLASSES = ("headerlink", "mw-editsection")
_PRUNE = ["//noscript", *(f"//*[contains(@class, '{name}')]" for name in _MARKER_CLASSES)]
# Ends a definition list's term; ":" once trafilatura has been matched (its text has no colon there).
_TERM_END = "\x00"
# What is left of such a marker without its class: "History [edit]", "Usage ¶".
_HEADING_MARKER = re.compile(r"(?:\s*(?:[¶§]|\[\s*edit\s*\]))+$", re.I)


def html_text(markup: str) -> tuple[str, str]:
    """(text, title) of a page; raises LoadError on markup nothing can read."""
    parser = _parse_tags(markup)
    title = " ".join(" ".join(parser.title_parts).split())
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    lines = [_HEADING_MARKER.sub("", line) if line.startswith("#") else line for line in lines]
    lines = [line for line in lines if line.strip("# ")]
    size = sum(len(_bare(line)) for line in lines)
    main = _main_text(markup) if size >= MIN_CHARS and len(markup) <= MAX_MAIN_CHARS else ""
    if main and len(main) * MIN_SHARE >= size:
        lines = _keep_content(lines, main)
    return _blocks(lines).replace(_TERM_END, ":"), title


def tag_text(markup: str) -> str:
    """The tag-based parser's text alone (nav, aside, footer and forms dropped), before trafilatura picks content."""
    parts = "".join(_parse_tags(markup).parts).split("\n")
    return _blocks([" ".join(line.split()) for line in parts])


def _main_text(markup: str) -> str:
    """trafilatura's main content with all white space removed ("" when it finds none)."""
    import logging

    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # its fallbacks warn on odd pages
    try:
        doc = trafilatura.bare_extraction(
            markup,
            include_tables=True,
            include_formatting=True,
            include_comments=False,
            favor_recall=True,
            with_metadata=False,
            prune_xpath=_PRUNE,
        )
    except Exception:  # trafilatura gives up on odd trees in many ways; the tag reading stands
        return ""
    body = getattr(doc, "body", None)
    return "" if body is None else "".join("".join(body.itertext()).split())


def _bare(line: str) -> str:
    """A line's words without Markdown markup or white space, as in ``_main_text``."""
    if line.startswith("#"):
        line = line.lstrip("#")
    elif line.startswith("- "):
        line = line[2:]
    elif line.startswith("|"):
        line = "" if set(line) <= {"|", "-"} else line.replace("|", "")
    return "".join(line.replace(_TERM_END, "").split())


def _keep_content(lines: list[str], main: str) -> list[str]:
    """The lines trafilatura also calls content, in order, and the headings over them.

    Both readers keep document order, so each content line is found just after the previous
    one in ``main``; boilerplate is not found there and is dropped. A long line is also looked
    for further ahead, which resyncs after a stretch only trafilatura kept.
    """
    kept = [False] * len(lines)
    cursor = 0
    for i, line in enumerate(lines):
        bare = _bare(line)
        if not bare:  # a table's separator line goes with its header row
            kept[i] = i > 0 and kept[i - 1]
            continue
        at = main.find(bare, cursor, cursor + len(bare) + WINDOW)
        if at < 0 and len(bare) >= LONG_LINE:
            at = main.find(bare, cursor)
        if at >= 0:
            kept[i] = True
            cursor = at + len(bare)
    _keep_headings(lines, kept)
    return [line for line, keep in zip(lines, kept, strict=True) if keep]


def _keep_headings(lines: list[str], kept: list[bool]) -> None:
    """Keep a heading whose section holds a kept line (trafilatura drops some headings)."""
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].startswith("#"):
            continue
        level = len(lines[i]) - len(lines[i].lstrip("#"))
        for j in range(i + 1, len(lines)):
            if lines[j].startswith("#") and len(lines[j]) - len(lines[j].lstrip("#")) <= level:
                break
            if kept[j] and not lines[j].startswith("#"):
                kept[i] = True
                break


def _blocks(lines: list[str]) -> str:
    blocks: list[str] = []
    for line in lines:
        if not line:
            continue
        if blocks and line.startswith("|") and blocks[-1].rsplit("\n", 1)[-1].startswith("|"):
            blocks[-1] += "\n" + line  # rows of one table stay together: its header names their cells
        else:
            blocks.append(line)
    return "\n\n".join(blocks)


def _parse_tags(markup: str) -> _HTMLText:
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
    return parser


class _HTMLText(HTMLParser):
    """The tag-based reading of a page: its <title>, and its text in Markdown shapes.

    Block elements become line breaks; headings become ``# Heading`` lines (section context,
    never quoted), list items ``- item``, table rows ``| cell | cell |`` with a ``|---|`` line
    under a header row. Scripts, styles, navigation, asides, forms, footers and page headers
    (outside an article) are dropped: a menu is not content. White space in the markup,
    newlines included, is collapsed, so a paragraph wrapped in the source stays one paragraph.
    """

    BLOCK: ClassVar[frozenset[str]] = frozenset({
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
        "table", "section", "article", "main", "header", "footer", "blockquote", "pre", "title", "hr",
        "dt", "dd", "figcaption", "caption",
    })  # fmt: skip
    HIDDEN: ClassVar[frozenset[str]] = frozenset(
        {"script", "style", "noscript", "template", "nav", "aside", "form", "footer", "menu", "dialog"}
    )
    HEADINGS: ClassVar[dict[str, int]] = {f"h{n}": n for n in range(1, 7)}
    VOID: ClassVar[frozenset[str]] = frozenset(
        {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._hidden = 0
        self._in_title = False
        self._content = 0  # inside <article> or <main>: a <header> there is the article's own
        self._page_header = 0
        self._pre = 0
        self._row_cells: list[bool] = []  # per cell of the open row: is it a <th>
        self._marker: list[str] = []  # inside a heading's permalink or edit link: its tag, once per open
        self._term = False  # a <dt> just ended: the <dd> after it goes on its line, as "term: text"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._marker and tag == self._marker[0]:
            self._marker.append(tag)  # the same tag nested inside the marker: its end is not the marker's
            return
        if self._marker and tag in self.BLOCK:
            self._marker.clear()  # a marker is inline: a block starting means it was left open
        if (
            not self._marker
            and tag not in self.VOID
            and any(k == "class" and v and any(name in v for name in _MARKER_CLASSES) for k, v in attrs)
        ):
            self._marker.append(tag)
            return
        if self._marker:
            return
        if tag == "title":
            self._in_title = True
        elif tag in self.HIDDEN:
            self._hidden += 1
        elif tag in ("article", "main"):
            self._content += 1
        elif tag == "header" and not self._content:
            self._page_header += 1
        elif tag == "pre":
            self._pre += 1
        if tag == "dd" and self._term:
            self._join_term()
        elif tag in self.BLOCK:
            self.parts.append("\n")
        self._term = False
        if self._hidden or self._page_header:
            return
        if tag in self.HEADINGS:
            self.parts.append("#" * self.HEADINGS[tag] + " ")
        elif tag == "li":
            self.parts.append("- ")
        elif tag == "tr":
            self._row_cells = []
        elif tag in ("td", "th"):
            self.parts.append("| ")
            self._row_cells.append(tag == "th")

    def handle_endtag(self, tag: str) -> None:
        if self._marker and tag == self._marker[0]:
            self._marker.pop()
            return
        if self._marker and tag not in self.BLOCK:
            return
        self._marker.clear()  # a marker left open ends with its block, as a browser ends it
        if tag == "title":
            self._in_title = False
        elif tag in self.HIDDEN and self._hidden:
            self._hidden -= 1
        elif tag in ("article", "main") and self._content:
            self._content -= 1
        elif tag == "header" and self._page_header:
            self._page_header -= 1
        elif tag == "pre" and self._pre:
            self._pre -= 1
        elif self._hidden or self._page_header:
            pass
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "tr" and self._row_cells:
            self.parts.append("|")
            if all(self._row_cells):  # a header row: the Markdown separator line under it
                self.parts.append("\n|" + "---|" * len(self._row_cells))
            self._row_cells = []
        if tag == "dt":
            self._term = True  # its line stays open for the definition
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def _join_term(self) -> None:
        """End a definition list's term with ": " (unless it ends in punctuation already), so
        "Goal" and the sentence it labels are one line, not a two-word sentence of its own."""
        while self.parts and not self.parts[-1].strip() and "\n" not in self.parts[-1]:
            self.parts.pop()  # spaces after the term
        if not self.parts or not self.parts[-1].strip():  # an empty term: the definition is a block
            self.parts.append("\n")
            return
        self.parts[-1] = self.parts[-1].rstrip()
        self.parts.append(" " if self.parts[-1][-1:] in ":.?!" else _TERM_END + " ")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._hidden and not self._page_header and not self._marker:
            data = data.replace(_TERM_END, "")  # a NUL in the page is nothing a reader sees
            self.parts.append(data if self._pre else _edges(data))


def _edges(data: str) -> str:
    """``data`` with inner white space collapsed, keeping one space at an edge that had some."""
    inner = " ".join(data.split())
    if not inner:
        return " " if data else ""
    return (" " if data[:1].isspace() else "") + inner + (" " if data[-1:].isspace() else "")
