"""Word documents: structure read like Markdown, offsets exact, and bad files refused in one line."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag import ask, build_index
from rag.core import document_text
from rag.errors import LoadError
from rag.faces.cli import cli
from rag.ingest.docx_text import MAX_UNPACKED_BYTES, docx_text
from rag.library import add_documents
from rag.settings import get_settings


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = "Orchard report"
    d.add_heading("Orchard report", level=1)
    d.add_paragraph("The orchard behind the mill was surveyed in spring.")
    d.add_heading("Quince trees", level=2)
    d.add_paragraph("Ilse Varga planted forty-two quince trees in 1987.")
    d.add_paragraph("Pruned every March", style="List Bullet")
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate([["Tree", "Count", "Planted"], ["Quince", "42", "1987"], ["Medlar", "7", "2001"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_heading("Medlars", level=2)
    d.add_paragraph("The seven medlars were planted by Tomas Brandt in 2001.")
    d.save(str(path))
    return path


def test_structure_comes_through_as_markdown_shapes(tmp_path: Path) -> None:
    text, title = docx_text(make_docx(tmp_path / "r.docx").read_bytes())
    assert title == "Orchard report"
    assert text.startswith("# Orchard report\n\nThe orchard behind the mill")
    assert "\n\n## Quince trees\n\n" in text and "\n\n- Pruned every March\n\n" in text
    assert "| Tree | Count | Planted |\n|---|---|---|\n| Quince | 42 | 1987 |" in text
    assert text.index("Quince trees") < text.index("| Tree") < text.index("## Medlars")  # body order kept


@pytest.mark.integration
def test_a_docx_is_answered_with_exact_offsets_and_its_section(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    make_docx(corpus / "orchard.docx")
    settings = get_settings(index_dir=tmp_path / "index")
    assert build_index(corpus, settings=settings).added == ("orchard.docx",)
    a = ask("Who planted the medlars?", corpus=corpus, settings=settings)
    assert a.short is not None and a.short.text == "Tomas Brandt"
    c = a.citations[0]
    assert document_text(c.source, corpus, settings=settings)[c.start : c.end] == c.quote
    from rag.language.units import section_at

    assert section_at(document_text(c.source, corpus, settings=settings), c.start) == "Orchard report > Medlars"


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"PK\x03\x04 this is not really a zip archive at all", "not a valid .docx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "encrypted or old-format"),
        (_zip({"hello.txt": b"hi"}), "no word/document.xml"),
        (_zip({"word/document.xml": b"<not-xml"}), "not a valid .docx"),
    ],
)
def test_bad_files_are_refused_in_one_line(raw: bytes, words: str) -> None:
    with pytest.raises(LoadError, match=words) as err:
        docx_text(raw)
    assert "\n" not in str(err.value)


def test_a_zip_bomb_is_refused_before_parsing() -> None:
    bomb = _zip({"word/document.xml": b"<w/>", "word/media/zeros.bin": b"\x00" * (MAX_UNPACKED_BYTES + 1)})
    assert len(bomb) < 1_000_000
    with pytest.raises(LoadError, match="unpacks to"):
        docx_text(bomb)


@pytest.mark.integration
def test_cli_and_upload_take_docx_alike(tmp_path: Path) -> None:
    import docx

    corpus = tmp_path / "docs"
    corpus.mkdir()
    make_docx(corpus / "good.docx")
    (corpus / "broken.docx").write_bytes(b"PK\x03\x04 damaged")
    docx.Document().save(str(corpus / "empty.docx"))
    index_dir = tmp_path / "index"
    res = CliRunner().invoke(cli, ["index", str(corpus), "--index-dir", str(index_dir), "--verbose"])
    assert res.exit_code == 0, res.output
    assert "added: good.docx" in res.output
    assert "skipped broken.docx: not a valid .docx" in res.output
    assert "skipped empty.docx: no text could be extracted" in res.output

    settings = get_settings(index_dir=index_dir)
    up = tmp_path / "up"
    up.mkdir()
    results = add_documents(
        corpus, settings, [("memo.docx", make_docx(up / "a")), ("bad.docx", corpus / "broken.docx")], False
    )
    assert [r.status for r in results] == ["added", "refused"]
    assert "not a valid .docx" in results[1].message and (corpus / "uploads" / "memo.docx").exists()


W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _docx_with_body(tmp_path: Path, body_xml: list[str]) -> bytes:
    """A real .docx (python-docx wrote it) whose body is replaced by the given paragraphs' XML."""
    import docx
    from docx.oxml import parse_xml

    d = docx.Document()
    hidden = d.styles.add_style("Secret", 2)  # a character style that hides its text
    hidden.font.hidden = True
    body = d.element.body
    for el in list(body):
        if not el.tag.endswith("sectPr"):
            body.remove(el)
    sect = body[-1]
    for xml in body_xml:
        sect.addprevious(parse_xml(xml.replace("<w:p>", f"<w:p {W_NS}>", 1).replace("<w:sdt>", f"<w:sdt {W_NS}>", 1)))
    path = tmp_path / "tracked.docx"
    d.save(str(path))
    return path.read_bytes()


def test_text_is_what_word_shows_with_changes_accepted(tmp_path: Path) -> None:
    """Hidden text is left out; inserted, moved, controlled, field and smart-tag text is kept."""
    r = "<w:r><w:t xml:space='preserve'>{}</w:t></w:r>"
    raw = _docx_with_body(
        tmp_path,
        [
            "<w:p>" + r.format("The contract value is ")
            + "<w:ins w:id='1' w:author='a' w:date='2026-01-01T00:00:00Z'>" + r.format("4.2 million euros") + "</w:ins>"
            + "<w:del w:id='2' w:author='a' w:date='2026-01-01T00:00:00Z'><w:r><w:delText>3 million euros</w:delText></w:r></w:del>"
            + r.format(".") + "</w:p>",
            "<w:p>" + r.format("Signed by ")
            + "<w:sdt><w:sdtPr><w:alias w:val='Signer'/></w:sdtPr><w:sdtContent>" + r.format("Ilse Varga")
            + "</w:sdtContent></w:sdt>" + r.format(" on ")
            + "<w:fldSimple w:instr=' DATE '>" + r.format("3 March 2026") + "</w:fldSimple>" + r.format(" in ")
            + "<w:smartTag w:uri='u' w:element='City'>" + r.format("Bergen") + "</w:smartTag>" + r.format(".") + "</w:p>",
            "<w:p>" + r.format("The vault code is ")
            + "<w:r><w:rPr><w:vanish/></w:rPr><w:t>9999 (a draft note)</w:t></w:r>"
            + "<w:r><w:rPr><w:rStyle w:val='Secret'/></w:rPr><w:t>and a secret</w:t></w:r>"
            + "<w:r><w:rPr><w:vanish w:val='0'/></w:rPr><w:t>1234</w:t></w:r>"
            + "<w:moveFrom w:id='3' w:author='a' w:date='2026-01-01T00:00:00Z'>" + r.format(" moved away") + "</w:moveFrom>"
            + "<w:moveTo w:id='4' w:author='a' w:date='2026-01-01T00:00:00Z'>" + r.format(", kept in the safe") + "</w:moveTo>"
            + r.format(".") + "</w:p>",
            "<w:sdt><w:sdtPr/><w:sdtContent><w:p>" + r.format("A paragraph inside a block content control.")
            + "</w:p></w:sdtContent></w:sdt>",
        ],
    )  # fmt: skip
    text, _ = docx_text(raw)
    assert text.split("\n\n") == [
        "The contract value is 4.2 million euros.",
        "Signed by Ilse Varga on 3 March 2026 in Bergen.",
        "The vault code is 1234, kept in the safe.",
        "A paragraph inside a block content control.",
    ]


def test_a_paragraph_numbered_as_a_list_is_a_list_item(tmp_path: Path) -> None:
    """Pandoc's and Word's list items carry w:numPr under a plain style ("Compact"): a public
    privacy policy's five bullets read as five one-line paragraphs."""
    r = "<w:r><w:t xml:space='preserve'>{}</w:t></w:r>"
    item = "<w:p><w:pPr><w:pStyle w:val='Compact'/><w:numPr><w:ilvl w:val='0'/><w:numId w:val='{n}'/></w:numPr></w:pPr>{r}</w:p>"
    raw = _docx_with_body(
        tmp_path,
        [
            "<w:p>" + r.format("Logs are kept longer in situations such as:") + "</w:p>",
            item.format(n=2, r=r.format("site testing")),
            item.format(n=2, r=r.format("diagnosis of technical problems")),
            item.format(n=0, r=r.format("A paragraph whose numbering was taken away.")),
        ],
    )
    text, _ = docx_text(raw)
    assert text.split("\n\n") == [
        "Logs are kept longer in situations such as:",
        "- site testing",
        "- diagnosis of technical problems",
        "A paragraph whose numbering was taken away.",
    ]
