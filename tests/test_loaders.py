"""Loading a corpus from real files: text formats, PDF, .jsonl, and every kind of bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from loading import load_documents
from pdfs import text_pdf

from rag.errors import CorpusError, LoadError
from rag.ingest.loaders import check_corpus_path, read_file
from rag.types import Document, SkippedFile

pytestmark = pytest.mark.unit


# ---------------------------------------------------------------------------------------------
# helpers


def load(root: Path, **kwargs: object) -> tuple[dict[str, Document], dict[str, SkippedFile]]:
    docs, skipped = load_documents(root, **kwargs)  # type: ignore[arg-type]
    by_source = {d.source: d for d in docs}
    assert len(by_source) == len(docs), "two documents share a source"
    return by_source, {s.source: s for s in skipped}


# ---------------------------------------------------------------------------------------------
# plain text and markdown


def test_txt_with_crlf_and_bom_matches_read_text_exactly(tmp_path: Path) -> None:
    raw = "\ufeffFirst line.\r\nSecond line.\r\n\r\nOld Mac line.\rLast line \u00e9t\u00e9.\r\n".encode()
    (tmp_path / "a.txt").write_bytes(raw)
    docs, skipped = load(tmp_path)
    assert skipped == {}
    expected = (tmp_path / "a.txt").read_text(encoding="utf-8")
    assert docs["a.txt"].text == expected
    assert "\r" not in docs["a.txt"].text
    assert docs["a.txt"].text.count("\n") == expected.count("\n") == 5


def test_txt_offsets_index_the_file_as_python_reads_it(tmp_path: Path) -> None:
    body = "Alpha beta.\r\nGamma delta epsilon.\r\n"
    (tmp_path / "doc.txt").write_bytes(body.encode())
    docs, _ = load(tmp_path)
    text = docs["doc.txt"].text
    on_disk = (tmp_path / "doc.txt").read_text(encoding="utf-8")
    start = text.index("Gamma")
    assert on_disk[start : start + len("Gamma delta")] == "Gamma delta"


def test_txt_title_is_first_non_empty_line_and_falls_back(tmp_path: Path) -> None:
    (tmp_path / "titled.txt").write_text("\n\n   Annual Report 2023  \nBody text.\n", encoding="utf-8")
    docs, _ = load(tmp_path)
    assert docs["titled.txt"].title == "Annual Report 2023"


def test_txt_title_does_not_keep_the_bom(tmp_path: Path) -> None:
    (tmp_path / "bom.txt").write_bytes("\ufeffReport title\nBody.\n".encode())
    docs, _ = load(tmp_path)
    assert docs["bom.txt"].title == "Report title"


def test_markdown_is_loaded_verbatim_with_heading_title(tmp_path: Path) -> None:
    md = "# Project Notes\n\nSome *emphasis* and a [link](http://x).\n\n## Section\n- item one\n"
    (tmp_path / "notes.md").write_text(md, encoding="utf-8")
    (tmp_path / "other.markdown").write_text("Plain first line\nmore\n", encoding="utf-8")
    docs, skipped = load(tmp_path)
    assert skipped == {}
    assert docs["notes.md"].text == md
    assert docs["notes.md"].title == "Project Notes"
    assert docs["other.markdown"].title == "Plain first line"


# ---------------------------------------------------------------------------------------------
# HTML

HTML_PAGE = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>Caf&eacute; &amp; Bar   Menu</title>
  <style>body { color: red; } .secret { display: none }</style>
  <script>var secret = "script text must not be indexed";</script>
</head>
<body>
  <h1>Our&nbsp;Menu</h1>
  <p>Fish &amp; chips &lt;3 with <b>extra</b>   salt.</p>
  <script type="text/javascript">document.write("also hidden")</script>
  <ul><li>Tea</li><li>Coffee</li></ul>
  <div>Open<br>daily</div>
  <noscript>Enable JavaScript</noscript>
  <p>Price: 5&#8364; &#x2014; cash only</p>
</body>
</html>
"""


def test_html_visible_text_title_entities_and_blocks(tmp_path: Path) -> None:
    (tmp_path / "menu.html").write_text(HTML_PAGE, encoding="utf-8")
    docs, skipped = load(tmp_path)
    assert skipped == {}
    doc = docs["menu.html"]
    assert doc.title == "Café & Bar Menu"
    for hidden in ("script text", "also hidden", "color: red", "display: none", "Enable JavaScript", "var "):
        assert hidden not in doc.text
    assert "<b>" not in doc.text and "&amp;" not in doc.text
    assert doc.text.split("\n\n") == [
        "# Our Menu",  # &nbsp; decoded, then white space collapsed; a heading reads as one
        "Fish & chips <3 with extra salt.",
        "- Tea",
        "- Coffee",
        "Open",
        "daily",
        "Price: 5€ — cash only",
    ]


def test_html_main_content_headings_tables_and_wrapped_paragraphs(tmp_path: Path) -> None:
    page = """<html><head><title>Harbour</title></head><body>
<header><a href="/">Coastal News</a> Subscribe now</header>
<nav><ul><li><a href="/">Home</a></li><li>About</li><li>Contact</li></ul></nav>
<article><header><h1>Velmora harbour</h1></header>
<p>The harbour was dredged in 2019
   by <b>Ottilie</b> <i>Brandt</i>.</p>
<table><tr><th>item</th><th>cost</th></tr><tr><td>dredging</td><td>38 million euros</td></tr></table>
</article>
<aside>Sign up for our newsletter.</aside><form>Search</form>
<footer>Copyright 2031. Privacy policy.</footer></body></html>"""
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    docs, _ = load(tmp_path)
    assert docs["page.html"].text.split("\n\n") == [
        "# Velmora harbour",
        "The harbour was dredged in 2019 by Ottilie Brandt.",
        "| item | cost |\n|---|---|\n| dredging | 38 million euros |",
    ]


def test_html_title_not_in_body_text_and_htm_suffix(tmp_path: Path) -> None:
    page = "<html><head><title>Only Title</title></head><body><p>Body words.</p></body></html>"
    (tmp_path / "page.htm").write_text(page, encoding="utf-8")
    docs, _ = load(tmp_path)
    assert docs["page.htm"].text == "Body words."
    assert docs["page.htm"].title == "Only Title"


def test_html_without_title_uses_source_as_title(tmp_path: Path) -> None:
    (tmp_path / "x.html").write_text("<p>Just a paragraph.</p>", encoding="utf-8")
    docs, _ = load(tmp_path)
    assert docs["x.html"].text == "Just a paragraph."
    assert docs["x.html"].title == "x.html"


def test_html_with_only_script_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "s.html").write_text("<html><script>alert('x')</script></html>", encoding="utf-8")
    docs, skipped = load(tmp_path)
    assert "s.html" not in docs
    assert "no text" in skipped["s.html"].reason


def test_html_with_implicit_head_end_keeps_body(tmp_path: Path) -> None:
    page = "<html><head><title>T</title><body><p>Body text here.</p></body></html>"
    (tmp_path / "implicit.html").write_text(page, encoding="utf-8")
    docs, skipped = load(tmp_path)
    assert skipped == {}
    assert docs["implicit.html"].text == "Body text here."


def test_html_title_entities_decoded_once(tmp_path: Path) -> None:
    page = "<html><head><title>AT&amp;amp;T</title></head><body><p>x y z</p></body></html>"
    (tmp_path / "t.html").write_text(page, encoding="utf-8")
    docs, _ = load(tmp_path)
    assert docs["t.html"].title == "AT&amp;T"


# ---------------------------------------------------------------------------------------------
# PDF


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(text_pdf(["Quarterly revenue grew sharply.", "Costs stayed flat."]))
    docs, skipped = load(tmp_path)
    assert skipped == {}
    text = docs["report.pdf"].text
    assert "Quarterly revenue grew sharply." in text
    assert "Costs stayed flat." in text
    assert text.index("Quarterly") < text.index("Costs")
    # no title in the metadata: the first line of text is the title
    assert docs["report.pdf"].title == "Quarterly revenue grew sharply."


def test_pdf_metadata_title_wins(tmp_path: Path) -> None:
    (tmp_path / "t.pdf").write_bytes(text_pdf(["Body line."], title="Board Minutes"))
    docs, _ = load(tmp_path)
    assert docs["t.pdf"].title == "Board Minutes"
    assert "Body line." in docs["t.pdf"].text


def test_pdf_without_text_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "blank.pdf").write_bytes(text_pdf([]))
    docs, skipped = load(tmp_path)
    assert docs == {}
    assert "no extractable text" in skipped["blank.pdf"].reason


# ---------------------------------------------------------------------------------------------
# bad files: each one skipped with a reason, never stopping the run


def _bad_files() -> dict[str, tuple[bytes, str]]:
    good_pdf = text_pdf(["Some text in a PDF that will be cut."])
    return {
        "empty.txt": (b"", "empty file"),
        "blank.md": (b"  \n\t\r\n   \n", "empty file"),
        "binary.txt": (b"GIF89a\x00\x01\x02\x00\xff\xfe" * 10, "binary"),
        "broken_utf8.txt": (b"Caf\xc3 cr\xc3\xa8me", "UTF-8"),
        "truncated.pdf": (good_pdf[: len(good_pdf) // 3], "PDF"),
        "garbage.pdf": (b"%PDF-1.7\n" + bytes(range(1, 256)) * 4, "PDF"),
        "fake.pdf": (b"This is plain text with a .pdf name.\n", "not a PDF"),
        "letter.docx": (b"PK\x03\x04 pretend zip", "not a valid .docx"),
        "README": (b"no suffix at all\n", "unsupported file type"),
    }


@pytest.mark.parametrize("name", sorted(_bad_files()))
def test_each_bad_file_is_skipped_with_reason(tmp_path: Path, name: str) -> None:
    data, reason_part = _bad_files()[name]
    (tmp_path / name).write_bytes(data)
    (tmp_path / "good.txt").write_text("A good document.\n", encoding="utf-8")
    docs, skipped = load(tmp_path)
    assert list(docs) == ["good.txt"]
    assert list(skipped) == [name]
    reason = skipped[name].reason
    assert reason_part.lower() in reason.lower(), reason
    assert "\n" not in reason and "Traceback" not in reason
    assert name in str(skipped[name])


def test_all_bad_files_together_do_not_stop_the_run(tmp_path: Path) -> None:
    bad = _bad_files()
    for name, (data, _) in bad.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "a.txt").write_text("First good one.\n", encoding="utf-8")
    (tmp_path / "z.md").write_text("# Last good one\n", encoding="utf-8")
    (tmp_path / "p.pdf").write_bytes(text_pdf(["Readable PDF."]))
    docs, skipped = load(tmp_path)
    assert sorted(docs) == ["a.txt", "p.pdf", "z.md"]
    assert sorted(skipped) == sorted(bad)
    assert all(s.reason for s in skipped.values())


def test_invalid_utf8_reason_names_the_offset(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_bytes(b"abc\xe2\x82def")  # a UTF-8 sequence cut short
    _, skipped = load(tmp_path)
    assert skipped["bad.txt"].reason == "not valid UTF-8 (byte 0xe2 at offset 3)"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("Café crème in Zürich, chez Renée Gräber.".encode("latin-1"), "Café crème in Zürich, chez Renée Gräber."),
        ("“Smart quotes” – and a € sign.".encode("cp1252"), "“Smart quotes” – and a € sign."),
        ("Привет, это простой текст на русском языке.".encode("cp1251"), "Привет, это простой текст на русском языке."),
        (
            "日本語のテキストです。これは検出のための文章です。".encode("shift_jis"),
            "日本語のテキストです。これは検出のための文章です。",
        ),
        ("Observatory log\r\nOpened in 1994.".encode("utf-16"), "Observatory log\nOpened in 1994."),
        ("UTF-32 too.".encode("utf-32"), "UTF-32 too."),
    ],
)
def test_text_in_other_encodings_is_decoded(raw: bytes, text: str, tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_bytes(raw)
    docs, skipped = load(tmp_path)
    assert skipped == {} and docs["doc.txt"].text == text


def test_file_above_max_bytes_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("word " * 100, encoding="utf-8")  # 500 bytes
    (tmp_path / "small.txt").write_text("tiny", encoding="utf-8")
    docs, skipped = load(tmp_path, max_bytes=100)
    assert list(docs) == ["small.txt"]
    assert "larger than the limit of 100 bytes (500 bytes)" in skipped["big.txt"].reason
    docs, skipped = load(tmp_path, max_bytes=500)  # the limit itself is allowed
    assert sorted(docs) == ["big.txt", "small.txt"]
    assert skipped == {}


def test_read_file_raises_load_error(tmp_path: Path) -> None:
    path = tmp_path / "e.txt"
    path.write_bytes(b"")
    with pytest.raises(LoadError, match="empty file"):
        read_file(path, "e.txt", max_bytes=1000)
    with pytest.raises(LoadError, match="cannot read file"):
        read_file(tmp_path / "missing.txt", "missing.txt", max_bytes=1000)


@pytest.mark.timeout(60)
def test_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    sub = root / "sub"
    sub.mkdir(parents=True)
    (sub / "inside.txt").write_text("Inside the folder.\n", encoding="utf-8")
    (root / "top.txt").write_text("At the top.\n", encoding="utf-8")
    os.symlink(root, sub / "loop", target_is_directory=True)
    os.symlink(sub, sub / "self", target_is_directory=True)
    docs, skipped = load(root)
    assert sorted(docs) == ["sub/inside.txt", "top.txt"]
    assert sorted(s for s in skipped if "loop" in s or "self" in s) == ["sub/loop", "sub/self"]


def test_broken_symlink_is_skipped(tmp_path: Path) -> None:
    os.symlink(tmp_path / "nowhere.txt", tmp_path / "dangling.txt")
    (tmp_path / "ok.txt").write_text("fine\n", encoding="utf-8")
    docs, skipped = load(tmp_path)
    assert list(docs) == ["ok.txt"]
    assert skipped["dangling.txt"].reason == "symlinked file not followed (it could leave the corpus)"


def test_hidden_files_and_folders_are_ignored(tmp_path: Path) -> None:
    (tmp_path / ".hidden.txt").write_text("secret\n", encoding="utf-8")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.txt").write_text("git internals\n", encoding="utf-8")
    (tmp_path / "visible.txt").write_text("shown\n", encoding="utf-8")
    docs, skipped = load(tmp_path)
    assert list(docs) == ["visible.txt"]
    assert skipped == {}


def test_sources_are_relative_posix_paths_in_nested_folders(tmp_path: Path) -> None:
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "one.txt").write_text("one\n", encoding="utf-8")
    (tmp_path / "a" / "b" / "c" / "deep.md").write_text("# deep\n", encoding="utf-8")
    (tmp_path / "a" / "b" / "page.html").write_text("<p>page</p>", encoding="utf-8")
    (tmp_path / "a" / "b" / "c" / "skip.docx").write_bytes(b"PK")
    (tmp_path / "root.txt").write_text("root\n", encoding="utf-8")
    docs, skipped = load(tmp_path)
    assert sorted(docs) == ["a/b/c/deep.md", "a/b/page.html", "a/one.txt", "root.txt"]
    assert list(skipped) == ["a/b/c/skip.docx"]
    for source in docs:
        assert "\\" not in source and not source.startswith("/")
        assert (tmp_path / source).is_file()


def test_relative_corpus_path_gives_same_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "corp" / "n").mkdir(parents=True)
    (tmp_path / "corp" / "n" / "x.txt").write_text("x\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    docs, _ = load(Path("corp"))
    assert list(docs) == ["n/x.txt"]


# ---------------------------------------------------------------------------------------------
# corpus path errors


def test_missing_corpus_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_corpus"
    with pytest.raises(CorpusError) as info:
        load_documents(missing)
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)


@pytest.mark.parametrize("name", ["notes.txt", "data.json", "corpus.csv"])
def test_plain_file_that_is_not_jsonl_is_rejected(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text('{"id": "a", "text": "b"}\n', encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        load_documents(path)
    assert str(path) in str(info.value)


def test_check_corpus_path_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "c").mkdir()
    monkeypatch.chdir(tmp_path)
    assert check_corpus_path(Path("c")) == (tmp_path / "c").resolve()


def test_empty_folder_gives_nothing(tmp_path: Path) -> None:
    assert load_documents(tmp_path) == ([], [])


# ---------------------------------------------------------------------------------------------
# .jsonl corpora


def test_jsonl_corpus_good_and_bad_rows(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "alpha", "title": "Alpha Title", "text": "Alpha text about rivers."}),
        '{"id": "broken", "text": "missing brace"',
        json.dumps({"id": "notext", "title": "No text here"}),
        json.dumps({"id": "alpha", "text": "A second alpha."}),
        json.dumps({"id": "blank", "text": "   \n  "}),
        "",
        json.dumps({"text": "row without an id"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "delta", "text": "Delta text\r\nwith CRLF kept."}),
        json.dumps({"id": "num", "text": 42}),
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    docs, skipped = load_documents(path)

    assert [d.source for d in docs] == ["alpha", "delta"]
    alpha, delta = docs
    assert alpha == Document(source="alpha", text="Alpha text about rivers.", title="Alpha Title")
    assert delta.title == "delta"  # no title: the id is the title
    assert delta.text == "Delta text\r\nwith CRLF kept."  # .jsonl text is used as is

    reasons = {s.source: s.reason for s in skipped}
    assert len(skipped) == 7
    assert reasons["corpus.jsonl:2"].startswith("invalid JSON")
    assert "'text'" in reasons["corpus.jsonl:3"]
    assert reasons["alpha"] == "duplicate id at line 4"
    assert reasons["blank"] == "empty text"
    assert "'id'" in reasons["corpus.jsonl:7"]
    assert "'text'" in reasons["corpus.jsonl:8"]
    assert "'text'" in reasons["corpus.jsonl:10"]


def test_jsonl_invalid_utf8_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"id": "a", "text": "ok"}\n{"id": "b", "text": "\xff"}\n{"id": "c", "text": "fine"}\n')
    docs, skipped = load_documents(path)
    assert [d.source for d in docs] == ["a", "c"]
    assert skipped == [SkippedFile("c.jsonl:2", "line is not valid UTF-8")]


def test_jsonl_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "UPPER.JSONL"
    path.write_text(json.dumps({"id": "x", "text": "hello"}) + "\n", encoding="utf-8")
    docs, skipped = load_documents(path)
    assert [d.source for d in docs] == ["x"] and skipped == []


def test_jsonl_in_a_folder_is_an_unsupported_file(tmp_path: Path) -> None:
    (tmp_path / "rows.jsonl").write_text(json.dumps({"id": "x", "text": "hello"}) + "\n", encoding="utf-8")
    docs, skipped = load(tmp_path)
    assert docs == {}
    assert "unsupported" in skipped["rows.jsonl"].reason


@pytest.mark.parametrize(
    "raw",
    [b"The caf\xc3( was closed on Monday.", b"Price: 12\xc2 euros, paid in cash at the door.", b"caf\xc3"],
)
def test_utf8_with_a_cut_sequence_is_skipped_not_read_as_latin1(raw: bytes, tmp_path: Path) -> None:
    """Read as Latin-1 it became "cafÃ( was closed": the README promises damaged UTF-8 is skipped."""
    (tmp_path / "bad.txt").write_bytes(raw)
    (tmp_path / "cyrillic.txt").write_bytes("В Москве идёт снег. В городе тихо.".encode("cp1251"))
    (tmp_path / "portuguese.txt").write_bytes("SÃO PAULO é uma cidade.".encode("latin-1"))
    docs, skipped = load(tmp_path)
    assert skipped["bad.txt"].reason.startswith("not valid UTF-8 (byte 0xc")
    assert docs["cyrillic.txt"].text == "В Москве идёт снег. В городе тихо."
    assert docs["portuguese.txt"].text == "SÃO PAULO é uma cidade."


def test_a_pdf_without_a_metadata_title_is_titled_from_its_first_page(tmp_path: Path) -> None:
    """Running headers ("SALTZER ET AL. 1") were taken as the title, and a two-line title was cut."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from pdfs import pages_pdf

    pages = [
        ["SALTZER ET AL. 1", "End-to-End Arguments in", "System Design", "J. H. Saltzer, D. P. Reed and D. D. Clark",
         "This paper presents a design principle that helps guide placement of functions."],
        ["SALTZER ET AL. 2", "The argument appeals to application requirements.", "Page 2"],
        ["SALTZER ET AL. 3", "Careful file transfer is the first example.", "Page 3"],
    ]  # fmt: skip
    (tmp_path / "e2e.pdf").write_bytes(pages_pdf(pages))
    docs, skipped = load(tmp_path)
    assert skipped == {} and docs["e2e.pdf"].title == "End-to-End Arguments in System Design"


def test_pdf_text_reads_as_typeset_words(tmp_path: Path) -> None:
    """A real paper's text held "\ufb01ve" (no "five" found it), and words broken at line ends
    ("Of-\\nten", "lock-\\ning") were two halves to the index and "Of-ten" in the chat."""
    lines = [
        "Chubby itself usually has \ufb01ve replicas in each cell. Of-",
        "ten their systems start small, and often they grow. Locking is coarse-",
        "grained. Coarse-grained locks are held for hours; lock-",
        "ing costs little. The end-to-",
        "end argument is an end-to-end argument. Reading is cheap for a read-",
        "only client.",
    ]
    (tmp_path / "chubby.pdf").write_bytes(text_pdf(lines))
    docs, skipped = load(tmp_path)
    text = docs["chubby.pdf"].text
    assert skipped == {} and "\ufb01" not in text
    assert "has five replicas" in text
    assert "Often\ntheir systems" in text  # joined on the first line, the line break kept
    assert "coarse-grained.\n" in text  # its own hyphen: the document writes it so
    assert "locking\ncosts" in text and "end-to-end\nargument" in text
    assert "read-only\nclient." not in text or "readonly" not in text


def test_a_pdf_titled_with_its_author_is_titled_from_its_page(tmp_path: Path) -> None:
    """Metadata that names the author as the title ("Jim Waldo") lost to the printed title."""
    lines = ["A Note on Distributed Computing", "Jim Waldo", "Objects that interact in a distributed system differ."]
    (tmp_path / "note.pdf").write_bytes(text_pdf(lines, title="Jim Waldo"))
    (tmp_path / "minutes.pdf").write_bytes(text_pdf(["Minutes", "The board met."], title="Board Minutes"))
    docs, _ = load(tmp_path)
    assert docs["note.pdf"].title == "A Note on Distributed Computing"
    assert docs["minutes.pdf"].title == "Board Minutes"  # a metadata title not printed under another


def test_running_headers_and_page_numbers_are_not_text(tmp_path: Path) -> None:
    """A paper's running header ("SALTZER ET AL. … 8") and page numbers were read into the
    sentences beside them: a quote read "End-to-End Arguments in System Design 8 History, …"."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from pdfs import pages_pdf

    header = "SALTZER ET AL. End-to-End Arguments in System Design {}"
    pages = [
        [header.format(1), "End-to-End Arguments in System Design", "Careful file transfer is the first example.", "1"],
        [header.format(2), "The argument appeals to application requirements.", "There are 3 hosts.", "2"],
        [header.format(3), "Encryption is a second example.", "3"],
        [header.format(4), "Duplicate messages are a third.", "4"],
    ]  # fmt: skip
    (tmp_path / "e2e.pdf").write_bytes(pages_pdf(pages))
    notes = ["A Note on Distributed Computing", "Jim Waldo", "Objects in a distributed system differ.", "12 objects."]
    (tmp_path / "note.pdf").write_bytes(pages_pdf([notes, ["2", "A Note on Distributed Computing", "Latency matters."],
                                                    ["3", "A Note on Distributed Computing", "Memory access differs."]]))  # fmt: skip
    docs, skipped = load(tmp_path)
    text = docs["e2e.pdf"].text
    assert skipped == {} and "SALTZER" not in text and text.count("\f") == 3  # pages stay
    assert [line for line in text.split("\f")[1].splitlines() if line.strip()] == [
        "The argument appeals to application requirements.",
        "There are 3 hosts.",  # a number inside a line is text
    ]
    assert docs["e2e.pdf"].title == "End-to-End Arguments in System Design"
    note = docs["note.pdf"].text
    # the title set as every page's header stays on the first page only; "12 objects." is text
    assert note.count("A Note on Distributed Computing") == 1 and "12 objects." in note
    assert not any(line.strip() in {"2", "3"} for line in note.splitlines())


@pytest.mark.unit
def test_every_format_has_one_reader_and_only_paged_ones_count_pages() -> None:
    from rag.ingest.loaders import READERS, SUPPORTED_SUFFIXES, page_at, reader_for

    assert {".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".pdf", ".docx"} == SUPPORTED_SUFFIXES
    assert sum(len(r.suffixes) for r in READERS) == len(SUPPORTED_SUFFIXES)  # no suffix read two ways
    assert reader_for("Notes.MD") is reader_for("a.txt") and reader_for("x.csv") is None
    pdf = reader_for("paper.pdf")
    assert pdf is not None and pdf.paged and not reader_for("page.html").paged  # type: ignore[union-attr]
    text = "one\fpage two\f\fpage four"
    starts = pdf.page_starts(text)
    assert starts == (0, 4, 13, 14)
    assert [page_at(starts, i) for i in (0, 3, 4, 12, 13, 14, len(text))] == [1, 1, 2, 2, 3, 4, 4]
    assert [page_at(starts, i) for i in range(len(text) + 1)] == [
        text.count("\f", 0, i) + 1 for i in range(len(text) + 1)
    ]
    assert page_at((), 5) is None
