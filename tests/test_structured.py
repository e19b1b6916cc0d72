"""Documents as people write them: a Markdown memo, a saved web page, a PDF, Latin-1 and UTF-16
text (``eval/datasets/structured``), asked the 35 questions of ``structured_qa.jsonl``."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ROOT, assert_index_consistent

from rag import ask, build_index, document_text
from rag.core import get_engine
from rag.language.units import text_units

pytestmark = pytest.mark.integration

STRUCTURED = ROOT / "eval" / "datasets" / "structured"
QUESTIONS = [json.loads(line) for line in (ROOT / "eval" / "datasets" / "structured_qa.jsonl").open(encoding="utf-8")]


@pytest.fixture(scope="module")
def structured(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from rag.settings import get_settings

    root = tmp_path_factory.mktemp("structured")
    corpus = root / "docs"
    shutil.copytree(STRUCTURED, corpus)
    settings = get_settings(index_dir=root / "index")
    report = build_index(corpus, settings=settings)
    assert report.skipped == () and len(report.added) == 5  # Latin-1 and UTF-16 included
    return corpus, settings


def test_questions_are_answered_from_rows_items_and_sentences_never_headings(structured) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = structured
    contained = 0
    for q in QUESTIONS:
        a = ask(q["question"], corpus=corpus, settings=settings)
        quotes = " ".join(c.quote for c in a.citations)
        contained += any(ans in quotes for ans in q["answers"])
        for c in a.citations:
            text = document_text(c.source, corpus, settings=settings)
            unit = next(u for u in text_units(text) if u.start <= c.start < u.end)
            assert unit.quotable, f"{q['question']!r} quoted a {unit.kind}: {c.quote!r}"
    assert contained / len(QUESTIONS) >= 0.9, contained
    assert_index_consistent(corpus, settings)


def test_wrapped_sentence_table_row_and_junk_pdf_title(structured) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = structured
    a = ask("Who set the budget of the Zephyr Project?", corpus=corpus, settings=settings)
    # the whole hard-wrapped sentence, with the date the line-by-line reading lost
    assert a.citations[0].quote.startswith("The Zephyr Project was approved on 3 March 2031")
    assert "Mara Quillfeather, who set\nthe budget" in a.citations[0].quote
    row = ask("Who is the captain of the Zephyr airship?", corpus=corpus, settings=settings)
    assert row.citations[0].quote == "| captain | Ingrid Solvang | 1,240 |"
    pdf = ask("How long is the Ravnsdal viaduct?", corpus=corpus, settings=settings)
    assert pdf.citations[0].source == "railway_report.pdf"
    assert pdf.citations[0].page == 2 and pdf.to_dict()["citations"][0]["page"] == 2  # type: ignore[index]
    first_page = ask(
        "How many passengers did the Brisk Valley railway carry in 2030?", corpus=corpus, settings=settings
    )
    assert first_page.citations[0].page == 1
    assert row.citations[0].page is None and "page" not in row.citations[0].to_dict()  # not a PDF
    titles = {s: e.title for s, e in get_engine(corpus, settings).manifest.documents.items()}
    assert titles["railway_report.pdf"] == "Annual report of the Brisk Valley railway"  # metadata: about:blank
    page = document_text("harbour_page.html", corpus, settings=settings)
    for chrome in ("Home", "Contact", "newsletter", "Copyright", "tracking"):
        assert chrome not in page
