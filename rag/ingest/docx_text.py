"""Word documents (.docx) as text with Markdown shapes, read by python-docx.

Headings become ``#`` lines (so the structure-aware units and section names work as for
Markdown), list paragraphs ``- `` items, tables ``| a | b |`` rows with a header rule; blocks
are separated by blank lines, in the body's own order. The text is what Word shows with tracked
changes accepted: inserted and moved-to text, content controls, simple fields, smart tags and
hyperlinks are read; deleted and moved-from text, field codes and hidden text (``w:vanish``,
directly or through a style) are not. Offsets index this text, which is what
``document_text`` returns. Refused in one line: a damaged file, an encrypted one (Word stores
those as an OLE container, not a zip), and one that unpacks to more than ``MAX_UNPACKED_BYTES``.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from rag.errors import LoadError

MAX_UNPACKED_BYTES = 200_000_000  # a zip bomb is refused before any XML is parsed
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING = re.compile(r"^(?:heading\s*(\d)|title)$", re.I)


def docx_text(raw: bytes) -> tuple[str, str]:
    """(text, title) of a .docx file's bytes."""
    if raw.startswith(_OLE):
        raise LoadError("encrypted or old-format Word file; save it as an unprotected .docx")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        unpacked = sum(i.file_size for i in archive.infolist())
        names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise LoadError(f"not a valid .docx (damaged or not a Word document: {err})") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise LoadError(f"unpacks to {unpacked} bytes, over the limit of {MAX_UNPACKED_BYTES}")
    if "word/document.xml" not in names:
        raise LoadError("not a valid .docx (it has no word/document.xml)")
    import docx

    try:
        document = docx.Document(io.BytesIO(raw))
        reader = _Reader(document)
        blocks = [b for b in (reader.block(el) for el in _blocks(document.element.body)) if b]
        title = (document.core_properties.title or "").strip()
    except LoadError:
        raise
    except Exception as err:  # python-docx and lxml raise many kinds on a malformed part
        raise LoadError(f"not a valid .docx ({type(err).__name__}: {str(err)[:120]})") from None
    text = "\n\n".join(blocks)
    if not title:
        first = next((b for b in blocks if b.startswith("#")), blocks[0] if blocks else "")
        title = first.lstrip("#").strip()[:200]
    return text, title


W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_NOT_SHOWN = {W + t for t in ("del", "moveFrom", "instrText", "delInstrText", "delText", "pPr", "rPr", "sdtPr",
                              "sdtEndPr", "fldData", "commentReference", "footnoteReference")}  # fmt: skip
_FALSE = {"0", "false", "off"}


def _blocks(container: Any) -> list[Any]:
    """The body's paragraphs and tables in order, those inside block content controls included."""
    out = []
    for el in container:
        if el.tag in (W + "p", W + "tbl"):
            out.append(el)
        elif el.tag in (W + "sdt", W + "customXml", W + "ins", W + "moveTo"):
            out.extend(_blocks(el.find(W + "sdtContent") if el.tag == W + "sdt" else el))
    return out


def _on(flag: Any) -> bool:
    """A ``w:vanish``-like toggle element is on unless its value says off."""
    return flag is not None and str(flag.get(W + "val", "true")).lower() not in _FALSE


class _Reader:
    """Reads paragraphs as Word shows them, knowing which styles hide their text."""

    def __init__(self, document: Any) -> None:
        self.styles = {}
        for style in document.styles.element.findall(W + "style"):
            based = style.find(W + "basedOn")
            rpr = style.find(W + "rPr")
            vanish = rpr.find(W + "vanish") if rpr is not None else None
            self.styles[style.get(W + "styleId")] = (
                None if vanish is None else _on(vanish),
                based.get(W + "val") if based is not None else None,
            )
        self.names = {s.style_id: s.name for s in document.styles}

    def hidden_style(self, style_id: str | None, depth: int = 0) -> bool:
        if style_id is None or depth > 20 or style_id not in self.styles:
            return False
        vanish, based = self.styles[style_id]
        return vanish if vanish is not None else self.hidden_style(based, depth + 1)

    def _hidden_run(self, run: Any, paragraph_hidden: bool) -> bool:
        rpr = run.find(W + "rPr")
        if rpr is not None:
            vanish = rpr.find(W + "vanish")
            if vanish is not None:
                return _on(vanish)
            style = rpr.find(W + "rStyle")
            if style is not None and self.styles.get(style.get(W + "val"), (None, None))[0] is not None:
                return self.hidden_style(style.get(W + "val"))
        return paragraph_hidden

    def paragraph_text(self, p: Any) -> tuple[str, str]:
        """(text, style name) of a ``w:p`` element."""
        ppr = p.find(W + "pPr")
        style_el = ppr.find(W + "pStyle") if ppr is not None else None
        style_id = style_el.get(W + "val") if style_el is not None else None
        hidden = self.hidden_style(style_id)
        out: list[str] = []

        def walk(el: Any) -> None:
            for child in el:
                tag = child.tag
                if tag in _NOT_SHOWN:
                    continue
                if tag == W + "r":
                    if not self._hidden_run(child, hidden):
                        walk(child)
                elif tag == W + "t":
                    out.append(child.text or "")
                elif tag == W + "tab":
                    out.append("\t")
                elif tag in (W + "br", W + "cr"):
                    out.append("\n")
                elif tag == W + "noBreakHyphen":
                    out.append("-")
                else:  # ins, moveTo, sdt/sdtContent, fldSimple, smartTag, hyperlink, customXml
                    walk(child)

        walk(p)
        return "".join(out), self.names.get(style_id, "") if style_id else ""

    def block(self, el: Any) -> str:
        if el.tag == W + "tbl":
            return self.table(el)
        raw, style = self.paragraph_text(el)
        text = " ".join(raw.split())
        if not text:
            return ""
        m = _HEADING.match((style or "").strip())
        if m:
            return f"{'#' * int(m.group(1) or 1)} {text}"
        if (style or "").lower().startswith("list") or _numbered(el):
            return f"- {text}"
        return text

    def table(self, tbl: Any) -> str:
        rows = []
        for tr in tbl.findall(W + "tr"):
            cells = []
            for tc in _cells(tr):
                merge = tc.find(f"{W}tcPr/{W}vMerge")
                if merge is not None and merge.get(W + "val") != "restart":
                    cells.append("")  # the lower part of a vertically merged cell: its text is above
                    continue
                text = " ".join(self.paragraph_text(p)[0] for p in tc.iter(W + "p"))
                cells.append(" ".join(text.split()).replace("|", "/"))
            if any(cells):
                rows.append("| " + " | ".join(cells) + " |")
        if len(rows) > 1:
            rows.insert(1, "|" + "---|" * rows[0].count(" | ") + "---|")
        return "\n".join(rows)


def _numbered(p: Any) -> bool:
    """A paragraph in a bulleted or numbered list by its own numbering (``w:numPr``), as Word
    and pandoc write list items whatever their style ("Compact"); numId 0 takes numbering away."""
    num = p.find(f"{W}pPr/{W}numPr/{W}numId")
    return num is not None and num.get(W + "val") not in (None, "0")


def _cells(tr: Any) -> list[Any]:
    """A row's cells, those inside row-level content controls included."""
    out = []
    for el in tr:
        if el.tag == W + "tc":
            out.append(el)
        elif el.tag in (W + "sdt", W + "customXml"):
            inner = el.find(W + "sdtContent") if el.tag == W + "sdt" else el
            out.extend(_cells(inner) if inner is not None else [])
    return out
