"""`rag check [--repair]` on a real index: each kind of damage is named in one line, and repaired."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DEFAULT_CORPUS, assert_index_consistent

from rag.check import check_index
from rag.faces.cli import cli


@pytest.fixture()
def indexed(tmp_path: Path):  # type: ignore[no-untyped-def]
    from rag import build_index
    from rag.settings import get_settings

    corpus = tmp_path / "docs"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    settings = get_settings(index_dir=tmp_path / "index")
    build_index(corpus, settings=settings)
    return corpus, settings


def _damage(kind: str, corpus: Path, settings) -> str:  # type: ignore[no-untyped-def]
    """Damage the index one way; return the words its problem line must hold."""
    from rag.core import get_engine

    store = get_engine(corpus, settings).store
    ids = sorted(store.stored_chunks())
    if kind == "lost_chunk":
        store.delete_ids([ids[0]])
        return "is in the manifest but not stored"
    if kind == "orphan_chunk":
        store.collection.add(
            ids=["stray-1"], embeddings=[[0.1] * 384], documents=["stray"], metadatas=[{"source": "gone.txt"}]
        )
        return "chunk stray-1 of gone.txt is stored but not in the manifest"
    if kind == "altered_text":
        vector = store.collection.get(ids=[ids[1]], include=["embeddings"])["embeddings"][0]
        store.collection.update(ids=[ids[1]], embeddings=[vector], documents=["Not what the document says."])
        return f"chunk {ids[1]} does not equal"
    if kind == "edited_document":
        doc = sorted(corpus.glob("*.txt"))[0]
        doc.write_text(doc.read_text(encoding="utf-8").replace("Ukraine", "Ukrainia"), encoding="utf-8")
        return f"{doc.name} changed since it was indexed"
    if kind == "bm25_cut_short":
        meta = store.dir / "bm25" / "ids.json"
        data = json.loads(meta.read_text())
        meta.write_text(json.dumps({**data, "ids": data["ids"][:-1]}))
        return "the saved BM25 index does not match the manifest"
    raise AssertionError(kind)


@pytest.mark.integration
def test_a_whole_index_checks_ok(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    report = check_index(corpus, settings)
    assert report.problems == () and report.documents == 2 and report.chunks == 15


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["lost_chunk", "orphan_chunk", "altered_text", "edited_document", "bm25_cut_short"])
def test_each_damage_is_named_then_repaired(kind: str, indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    words = _damage(kind, corpus, settings)
    env = {"RAG_INDEX_DIR": str(settings.index_dir)}
    found = CliRunner().invoke(cli, ["check", str(corpus)], env=env)
    assert found.exit_code == 1
    assert any(words in line for line in found.output.splitlines()), found.output
    fixed = CliRunner().invoke(cli, ["check", str(corpus), "--repair"], env=env)
    assert fixed.exit_code == 0, fixed.output
    assert fixed.output.splitlines()[-2:] == ["repaired", "index ok: 2 documents, 15 chunks"]
    assert_index_consistent(corpus, settings)


def test_a_fresh_index_of_every_format_with_headings_checks_ok(tmp_path: Path) -> None:
    """A chunk is stored with its section path for BM25; the check compares the chunk's own text
    with the document, so a healthy index of heading-bearing documents is not called broken."""
    import docx
    from pdfs import pages_pdf

    from rag import build_index
    from rag.settings import get_settings

    corpus = tmp_path / "mixed"
    corpus.mkdir()

    def prose(tag: str, n: int) -> str:
        return " ".join(f"The {tag} valve number {i} opens at dawn and closes at dusk." for i in range(n))

    md = ["# Field guide\n"] + [f"\n## Part {s}\n\n{prose(f'md{s}', 40)}\n" for s in range(5)]
    (corpus / "guide.md").write_text("".join(md), encoding="utf-8")
    html = "".join(f"<h2>Chapter {s}</h2><p>{prose(f'html{s}', 40)}</p>" for s in range(4))
    (corpus / "page.html").write_text(
        f"<html><head><title>Manual</title></head><body><h1>Manual</h1>{html}</body></html>"
    )
    d = docx.Document()
    d.add_heading("Report", level=1)
    for s in range(4):
        d.add_heading(f"Finding {s}", level=2)
        d.add_paragraph(prose(f"docx{s}", 40))
    d.save(str(corpus / "report.docx"))
    (corpus / "paper.pdf").write_bytes(pages_pdf([[f"Section {p}", prose(f"pdf{p}", 12)] for p in range(3)]))
    (corpus / "notes.txt").write_text(f"Notes\n\n{prose('txt', 80)}\n", encoding="utf-8")
    settings = get_settings(index_dir=tmp_path / "index")
    report = build_index(corpus, settings=settings)
    assert sorted(report.added) == ["guide.md", "notes.txt", "page.html", "paper.pdf", "report.docx"], report.skipped
    checked = check_index(corpus, settings)
    assert checked.problems == () and checked.chunks > 10
    res = CliRunner().invoke(cli, ["check", str(corpus), "--index-dir", str(tmp_path / "index")])
    assert res.exit_code == 0 and res.output.startswith("index ok: 5 documents")
