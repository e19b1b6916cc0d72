"""Minimal, valid one-page PDFs built by hand, for the loader and reliability tests."""

from __future__ import annotations


def pdf_string(text: str) -> str:
    """``text`` escaped for a PDF literal string."""
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_with_stream(
    stream: bytes, extra: bytes = b"", title: str | None = None, encoding: bytes = b"/WinAnsiEncoding"
) -> bytes:
    """A PDF whose page's content stream is ``stream``; ``extra`` goes into the stream's
    dictionary (a /Filter, say) and ``title`` into the document information."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + extra + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding " + encoding + b" >>",
    ]
    return _assemble(objects, title)


def text_pdf(lines: list[str], title: str | None = None) -> bytes:
    """A PDF that shows ``lines`` in Helvetica, one per line; ``\ufb01`` in a line is the
    typeset "fi" ligature glyph (byte 128 of the font's encoding, as typesetters emit it)."""
    ops = ["BT", "/F1 14 Tf", "16 TL", "72 720 Td"]
    for i, line in enumerate(lines):
        ops += (["T*"] if i else []) + [f"({pdf_string(line).replace(chr(0xFB01), chr(128))}) Tj"]
    font = b"<< /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences [128 /fi] >>"
    return pdf_with_stream("\n".join([*ops, "ET"]).encode("latin-1"), title=title, encoding=font)


def pages_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A PDF with one page per item of ``pages``, each showing its lines in Helvetica."""
    n = len(pages)
    font = 3 + 2 * n  # object number of the shared font
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 14 Tf", "16 TL", "72 720 Td"]
        for j, line in enumerate(lines):
            ops += (["T*"] if j else []) + [f"({pdf_string(line)}) Tj"]
        stream = "\n".join([*ops, "ET"]).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font} 0 R >> >> "
            f"/Contents {4 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    return _assemble(objects, title)


def _assemble(objects: list[bytes], title: str | None) -> bytes:
    """The PDF file of numbered ``objects`` (1 is the catalog), with an info title when given."""
    if title is not None:
        objects = [*objects, b"<< /Title (" + pdf_string(title).encode("latin-1") + b") >>"]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{off:010d} 00000 n \n".encode() for off in offsets)
    info = f" /Info {len(objects)} 0 R" if title is not None else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
