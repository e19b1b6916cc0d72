"""A document's title when its format names none: a ``Title:`` field or its first line; junk titles refused."""

from __future__ import annotations

import re

_JUNK_TITLE = re.compile(
    r"^(?:about:blank|untitled(?: document)?|document\d*|title|none|null|microsoft (?:word|powerpoint) - .*"
    r"|.*\.(?:docx?|pdf|tmp|rtf|odt|indd|qxd))$",
    re.IGNORECASE,
)


def sane_title(title: str) -> str:
    """A PDF's metadata title, or "" when it is junk (``about:blank``, ``Microsoft Word - x.doc``)."""
    title = " ".join(title.split())
    if not re.search(r"[^\W\d_]", title) or _JUNK_TITLE.match(title):
        return ""
    return title[:120]


_FIELD = re.compile(r"([A-Za-z][A-Za-z-]{0,30}):[ \t]+(\S.*)")


_RULE = re.compile(r"([=\-~^\"'`#*+:._<>])\1{2,}")


def first_line_title(text: str) -> str:
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
