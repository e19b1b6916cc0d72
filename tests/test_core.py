"""The public API on the default corpus: real model, real Chroma, real BM25."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Answer, InputError, ask, build_index, document_text
from rag.answer.answering import ABSTAIN_TEXT
from rag.errors import CorpusError
from rag.settings import MODES

pytestmark = pytest.mark.integration

SPOKESMAN_Q = "Who is the Chinese Embassy spokesman quoted about Ukraine?"


def assert_citations_exact(answer: Answer, corpus: Path) -> None:
    """Every citation's quote is the file's own text at its offsets, and markers match citations."""
    for i, c in enumerate(answer.citations, start=1):
        text = Path(corpus, c.source).read_text(encoding="utf-8")
        assert text[c.start : c.end] == c.quote
        assert c.quote and c.start < c.end
        assert f"[{i}]" in answer.text
        assert c.quote in answer.text
    assert f"[{len(answer.citations) + 1}]" not in answer.text


def test_spokesman_answer_cites_the_exact_span(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    a = ask(SPOKESMAN_Q, corpus=corpus, settings=settings)
    assert not a.abstained
    assert "Liu Pengyu" in a.text
    assert a.citations[0].source == "001_a1832f6365ab849e.txt"
    assert "Liu Pengyu" in a.citations[0].quote
    assert 0 < a.citations[0].score <= 2
    assert_citations_exact(a, corpus)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_answers_and_cites_exactly(indexed, mode: str) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    a = ask("How much in arms has the United States supplied to Ukraine?", corpus=corpus, mode=mode, settings=settings)
    assert a.mode == mode
    assert "$360 million" in a.text
    assert a.passages and len(a.passages) >= settings.top_k
    scores = [p.score for p in a.passages]
    assert scores == sorted(scores, reverse=True)
    assert_citations_exact(a, corpus)


def test_modes_rank_differently(indexed) -> None:  # type: ignore[no-untyped-def]
    """bm25 scores are raw BM25, dense scores are cosines: the modes are really different retrievers."""
    corpus, settings = indexed
    q = "Which diplomat represents Beijing in Washington?"
    dense = ask(q, corpus=corpus, mode="dense", settings=settings)
    bm25 = ask(q, corpus=corpus, mode="bm25", settings=settings)
    assert all(p.dense is not None and -1 <= p.score <= 1 for p in dense.passages)
    assert all(p.bm25 is not None and p.score > 0 for p in bm25.passages)
    assert [p.chunk.id for p in dense.passages] != [p.chunk.id for p in bm25.passages]


def test_top_k_limits_the_passages_cited(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    a = ask(SPOKESMAN_Q, corpus=corpus, top_k=1, settings=settings)
    assert {c.chunk_id for c in a.citations} <= {a.passages[0].chunk.id}


def test_search_finds_what_ask_retrieves_without_answering(indexed, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from rag import search

    corpus, settings = indexed
    a = ask(SPOKESMAN_Q, corpus=corpus, settings=settings, mode="bm25")
    monkeypatch.setattr("rag.core.make_answerer", lambda *a: pytest.fail("search wrote an answer"))
    found = search(SPOKESMAN_Q, corpus=corpus, settings=settings, mode="bm25")
    assert [p.chunk.id for p in found.passages] == [p.chunk.id for p in a.passages]
    assert found.query == SPOKESMAN_Q and found.mode == "bm25"
    text = document_text(found.passages[0].chunk.source, corpus, settings=settings)
    assert text[found.passages[0].chunk.start : found.passages[0].chunk.end] == found.passages[0].chunk.text
    with pytest.raises(InputError, match="top_k"):
        search(SPOKESMAN_Q, corpus=corpus, settings=settings, top_k=0)
    with pytest.raises(InputError, match=r"no document 'missing\.txt'"):  # as ask says it
        search(SPOKESMAN_Q, corpus=corpus, settings=settings, sources=("missing.txt",))


@pytest.mark.parametrize(
    "question",
    ["What is the boiling point of mercury?", "Who won the 2018 FIFA World Cup?", "What is the capital of Australia?"],
)
def test_abstains_when_the_corpus_cannot_answer(indexed, question: str) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    a = ask(question, corpus=corpus, settings=settings)
    assert a.abstained
    assert a.text == ABSTAIN_TEXT and a.text.startswith("The corpus does not say")
    assert a.citations == ()
    assert a.passages  # related passages are still offered


def test_near_miss_number_question_abstains(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    a = ask("How many tons of wheat will China import from Russia?", corpus=corpus, settings=settings)
    assert a.abstained
    answered = ask("How much in arms has the United States supplied to Ukraine?", corpus=corpus, settings=settings)
    assert not answered.abstained
    # "what is the population of" asks for a number too: sentences about Beijing that hold none do not answer it
    assert ask("What is the population of Beijing?", corpus=corpus, settings=settings).abstained


def test_follow_up_uses_the_conversation(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    history = ["Who is the Chinese ambassador to the United States?"]
    a = ask("How long was the White House meeting with him?", corpus=corpus, history=history, settings=settings)
    assert "one and half hour" in a.text
    assert a.query == "How long was the White House meeting with the Chinese ambassador to the United States?"
    alone = ask("How long was the White House meeting with him?", corpus=corpus, settings=settings)
    assert alone.query == "How long was the White House meeting with him?"


def test_a_follow_up_can_name_the_person_the_last_answer_named(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    first = "Who said China bases its views of the Ukraine conflict on its merits?"
    a1 = ask(first, corpus=corpus, settings=settings)
    assert "Liu Pengyu" in a1.text
    a2 = ask("What did he say about the intelligence?", corpus=corpus, history=[[first, a1.text]], settings=settings)
    assert a2.query == "What did Liu Pengyu say about the intelligence?"
    glued = ask("What did he say about the intelligence?", corpus=corpus, history=[first], settings=settings)
    assert "Liu Pengyu" not in glued.query  # without the answer, no name
    with pytest.raises(InputError, match="history must be a list of questions or of"):
        ask("What did he say?", corpus=corpus, history=[{"q": first}], settings=settings)  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n ", "empty"), ("x" * 2001, "too long")],
)
def test_bad_questions_raise_clear_errors(indexed, question: str, message: str) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    with pytest.raises(InputError, match=message):
        ask(question, corpus=corpus, settings=settings)


def test_bad_arguments(indexed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    with pytest.raises(InputError, match="unknown mode"):
        ask(SPOKESMAN_Q, corpus=corpus, mode="fuzzy", settings=settings)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="top_k"):
        ask(SPOKESMAN_Q, corpus=corpus, top_k=500, settings=settings)
    with pytest.raises(CorpusError, match="does not exist"):
        ask(SPOKESMAN_Q, corpus=tmp_path / "nowhere", settings=settings)


def test_ask_indexes_an_unindexed_corpus_first(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "fresh"
    corpus.mkdir()
    (corpus / "lighthouse.md").write_text(
        "# Harbour notes\n\nThe lighthouse keeper of Port Ellen was Ada Brown. She lit the lamp in 1891.\n",
        encoding="utf-8",
    )
    a = ask("Who was the lighthouse keeper of Port Ellen?", corpus=corpus, settings=settings)
    assert "Ada Brown" in a.text
    assert_citations_exact(a, corpus)


def test_html_and_jsonl_offsets_index_the_extracted_text(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "web"
    corpus.mkdir()
    (corpus / "page.html").write_text(
        "<html><head><title>Zoo</title><style>p{}</style></head><body>"
        "<p>The zoo in Lisbon keeps three red pandas.</p><p>Its aquarium opened in <b>1998</b>.</p></body></html>",
        encoding="utf-8",
    )
    a = ask("How many red pandas does the Lisbon zoo keep?", corpus=corpus, settings=settings)
    assert not a.abstained and "three red pandas" in a.text
    text = document_text("page.html", corpus=corpus, settings=settings)
    assert "<p>" not in text
    for c in a.citations:
        assert text[c.start : c.end] == c.quote

    jsonl = tmp_path / "docs.jsonl"
    rows = [
        {"id": "fr", "title": "France", "text": "Paris is the capital of France. It lies on the Seine."},
        {"id": "pt", "title": "Portugal", "text": "Lisbon is the capital of Portugal. Lisbon lies on the river Tagus."},
    ]
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    b = ask("Which river does Lisbon lie on?", corpus=jsonl, settings=settings)
    assert b.citations and b.citations[0].source == "pt"
    assert "Tagus" in b.text and b.citations[0].start > 0  # the second sentence, at its own offsets
    assert (
        document_text("pt", corpus=jsonl, settings=settings)[b.citations[0].start : b.citations[0].end]
        == b.citations[0].quote
    )


def test_changed_document_never_yields_a_stale_quote(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    """If a file changes after indexing, citations are still verified against the file as it is now."""
    corpus = tmp_path / "live"
    corpus.mkdir()
    doc = corpus / "a.txt"
    doc.write_text("The museum in Ghent opened in 1823. It holds Flemish paintings.\n", encoding="utf-8")
    build_index(corpus, settings=settings)
    doc.write_text("Completely different words now fill this file about gardening and tomatoes.\n", encoding="utf-8")
    a = ask("When did the museum in Ghent open?", corpus=corpus, settings=settings)
    for c in a.citations:
        assert doc.read_text(encoding="utf-8")[c.start : c.end] == c.quote
    assert "1823" not in a.text


def test_seed_questions_all_cite_exact_spans(indexed) -> None:  # type: ignore[no-untyped-def]
    """Quote identity over every seed question and every mode (the eval asserts the same in bulk)."""
    from conftest import SEED_QA

    corpus, settings = indexed
    rows = [json.loads(line) for line in SEED_QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    n_citations = 0
    for row in rows:
        for mode in MODES:
            a = ask(row["question"], corpus=corpus, mode=mode, history=row.get("history", []), settings=settings)
            assert_citations_exact(a, corpus)
            n_citations += len(a.citations)
    assert n_citations > len(rows)


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_ask_only_chosen_documents(indexed, mode: str) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    only = "000_3090de67739d6d38.txt"
    a = ask("Who is the Chinese Embassy spokesman quoted about Ukraine?", corpus=corpus, settings=settings,
            mode=mode, sources=[only])  # fmt: skip
    assert a.passages and {p.chunk.source for p in a.passages} == {only}  # Liu Pengyu's article is left out
    assert all(c.source == only for c in a.citations) and "Liu Pengyu" not in a.text
    with pytest.raises(InputError, match=r"no document 'nope\.txt' in the index"):
        ask("Who?", corpus=corpus, settings=settings, sources=["nope.txt"])
    with pytest.raises(InputError, match="sources must be a list"):
        ask("Who?", corpus=corpus, settings=settings, sources=[3])  # type: ignore[list-item]
