"""The extractive answerer on a real index: one precise citation, every quote over the bar, refusal by confidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import ask
from rag.answer.confidence import features
from rag.weights import fitted

HARBOUR = (
    "Harbour notes\n\nThe ferry to Oslo leaves at 7 pm. Tickets for the crossing cost $45 and the trip takes "
    "an hour and a half. The harbour master, Ingrid Dahl, opened the new terminal in 2019.\n\n"
    "The old terminal closed after the storm."
)
DAM = "Dam records\n\nThe Zorvath dam was finished in 1931 by the engineer Petra Lund. It holds back the Vell river."
QUESTIONS = (
    "When does the ferry to Oslo leave?",
    "How much do tickets for the crossing cost?",
    "Who opened the new terminal?",
    "How long does the trip take?",
    "Who finished the Zorvath dam?",
)


@pytest.fixture()
def corpus(tmp_path: Path):  # type: ignore[no-untyped-def]
    from rag.settings import get_settings

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    (tmp_path / "corpus" / "dam.txt").write_text(DAM, encoding="utf-8")
    return tmp_path / "corpus", get_settings(index_dir=tmp_path / "index", reader=False)  # answering.py's own


@pytest.mark.integration
def test_one_citation_unless_a_second_adds_support(corpus) -> None:  # type: ignore[no-untyped-def]
    folder, settings = corpus
    one = settings.model_copy(update={"second_sentence_gain": 1.0})  # no pair can gain that much
    eager = settings.model_copy(update={"second_sentence_gain": 0.0})
    for q in QUESTIONS:
        default, single, pairs = (ask(q, corpus=folder, settings=s) for s in (settings, one, eager))
        assert len(single.citations) <= 1 and len(default.citations) <= 2
        assert len(pairs.citations) >= len(default.citations) >= len(single.citations)
        if len(default.citations) == 2:  # only when the model says the pair beats the first alone
            first = [c for c in default.evidence.candidates if c.sentence.start == default.citations[0].start][:1]
            alone = fitted().confidence(features(default.evidence, first))
            assert default.confidence >= alone + settings.second_sentence_gain
    a = ask("When does the ferry to Oslo leave?", corpus=folder, settings=settings)
    assert [c.quote for c in a.citations] == ["The ferry to Oslo leaves at 7 pm."]


@pytest.mark.integration
def test_every_quote_clears_the_bar_on_its_own(corpus) -> None:  # type: ignore[no-untyped-def]
    folder, settings = corpus
    for q in QUESTIONS:
        a = ask(q, corpus=folder, settings=settings)
        scores = {(c.sentence.start, c.sentence.source): c.sentence.score for c in a.evidence.candidates}
        assert all(scores[(c.start, c.source)] >= settings.abstain_threshold for c in a.citations)


@pytest.mark.integration
def test_a_deleted_document_is_not_replaced_by_a_weak_quote(corpus) -> None:  # type: ignore[no-untyped-def]
    folder, settings = corpus
    before = ask("Who finished the Zorvath dam?", corpus=folder, settings=settings)
    assert not before.abstained and "Petra Lund" in before.citations[0].quote
    (folder / "dam.txt").unlink()
    after = ask("Who finished the Zorvath dam?", corpus=folder, settings=settings)
    assert after.abstained or all(
        c.source != "dam.txt" and c.score >= settings.abstain_threshold for c in after.citations
    )
    assert "Mr. Xi" not in after.text


@pytest.mark.integration
def test_refusal_follows_the_fitted_confidence(corpus) -> None:  # type: ignore[no-untyped-def]
    folder, settings = corpus
    bar = fitted().thresholds.min_confidence
    assert settings.min_confidence is None and bar > 0  # unset: the bar fitted for this answerer
    for q in (*QUESTIONS, "How many passengers did the ferry carry in 2031?", "Who won the 2018 FIFA World Cup?"):
        a = ask(q, corpus=folder, settings=settings)
        assert a.abstained == (a.confidence < bar) or not a.citations
        assert 0.0 <= a.confidence <= 1.0


@pytest.mark.integration
def test_documents_edited_since_indexing_are_cited_where_their_sentences_are_now(corpus) -> None:  # type: ignore[no-untyped-def]
    folder, settings = corpus
    q = "Who finished the Zorvath dam?"
    before = ask(q, corpus=folder, settings=settings)  # indexes; this process will not index again
    (folder / "dam.txt").write_text("Updated notes.\n\n" + DAM, encoding="utf-8")  # everything moves by 16
    after = ask(q, corpus=folder, settings=settings)  # served from the index made before the edit
    assert not after.abstained and after.citations[0].quote == before.citations[0].quote
    c = after.citations[0]
    assert c.start == before.citations[0].start + 16
    assert (folder / "dam.txt").read_text(encoding="utf-8")[c.start : c.end] == c.quote


@pytest.mark.integration
def test_a_sentence_two_documents_share_is_quoted_once(tmp_path: Path) -> None:
    import shutil

    from conftest import DEFAULT_CORPUS

    from rag import ask, build_index
    from rag.settings import get_settings

    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    shared = "The lighthouse of Skerry Point was finished in 1911 by the engineer Ottilie Brandt."
    (corpus / "a.md").write_text(f"# Lighthouses\n\n{shared}\n\nThe keeper lives in the town.\n", encoding="utf-8")
    (corpus / "b.md").write_text(f"# Coast notes\n\n{shared}\n\nGulls nest on the rocks.\n", encoding="utf-8")
    settings = get_settings(index_dir=tmp_path / "index", max_sentences=3)
    build_index(corpus, settings=settings)
    a = ask("Who finished the lighthouse of Skerry Point?", corpus=corpus, settings=settings)
    assert not a.abstained
    quotes = [" ".join(c.quote.split()) for c in a.citations]
    assert len(quotes) == len(set(quotes)), quotes  # before: the same sentence as [1] and [2]
