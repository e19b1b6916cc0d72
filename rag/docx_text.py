"""Word documents (.docx) as text with Markdown shapes, read by python-docx.

Headings become ``#`` lines (so the structure-aware units and section names work as for
Markdown), list paragraphs ``- `` items, tables ``| a | b |`` rows with a header rule; blocks
are separated by blank lines, in the body's own order. Offsets index this text, which is what
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
        blocks = [b for b in (_block(item) for item in document.iter_inner_content()) if b]
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


def _block(item: Any) -> str:
    from docx.table import Table

    if isinstance(item, Table):
        return _table(item)
    text = " ".join(item.text.split())
    if not text:
        return ""
    style = (item.style.name if item.style is not None else "") or ""
    m = _HEADING.match(style.strip())
    if m:
        return f"{'#' * int(m.group(1) or 1)} {text}"
    if style.lower().startswith("list"):
        return f"- {text}"
    return text


def _table(table: Any) -> str:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell repeats across the columns it spans
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()).replace("|", "/"))
        if any(cells):
            rows.append("| " + " | ".join(cells) + " |")
    if len(rows) > 1:
        rows.insert(1, "|" + "---|" * rows[0].count(" | ") + "---|")
    return "\n".join(rows)
