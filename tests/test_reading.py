"""Answering by reading (the default, RAG_READER=1) on a real index: one quote holding the reader's span, or a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import ask, document_text

HARBOUR = (
    "Harbour notes\n\nThe ferry to Oslo leaves at 7 pm. Tickets for the crossing cost $45 and the trip takes "
    "an hour and a half. The harbour master, Ingrid Dahl, opened the new terminal in 2019.\n\n"
    "The old terminal closed after the storm."
)
DAM = "Dam records\n\nThe Zorvath dam was finished in 1931 by the engineer Petra Lund. It holds back the Vell river."


@pytest.fixture()
def corpus(tmp_path: Path):  # type: ignore[no-untyped-def]
    from rag.settings import get_settings

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    (tmp_path / "corpus" / "dam.txt").write_text(DAM, encoding="utf-8")
    return tmp_path / "corpus", get_settings(index_dir=tmp_path / "index", reader=True)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("Who opened the new terminal?", "Ingrid Dahl"),
        ("Who finished the Zorvath dam?", "Petra Lund"),
        ("In what year was the Zorvath dam finished?", "1931"),
    ],
)
def test_the_short_answer_is_the_readers_span_inside_the_one_quote(corpus, question: str, phrase: str) -> None:  # type: ignore[no-untyped-def]
    folder, settings = corpus
    answer = ask(question, corpus=folder, settings=settings)
    assert not answer.abstained
    assert len(answer.citations) == 1
    cited = answer.citations[0]
    assert document_text(cited.source, corpus=folder, settings=settings)[cited.start : cited.end] == cited.quote
    assert answer.short is not None and phrase in answer.short.text
    text = document_text(answer.short.source, corpus=folder, settings=settings)
    assert text[answer.short.start : answer.short.end] == answer.short.text
    assert cited.start <= answer.short.start < answer.short.end <= cited.end
    assert 0.0 < answer.confidence <= 1.0


@pytest.mark.integration
def test_a_question_the_corpus_does_not_answer_is_refused(corpus) -> None:  # type: ignore[no-untyped-def]
    folder, settings = corpus
    answer = ask("What is the boiling point of mercury in kelvin?", corpus=folder, settings=settings)
    assert answer.abstained
    assert answer.citations == ()
    assert answer.short is None


@pytest.mark.integration
def test_the_reader_is_the_default_and_a_users_bar_overrides_the_fitted_one(tmp_path: Path) -> None:
    from rag.answer.refusal import fitted_refusal
    from rag.settings import get_settings

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "dam.txt").write_text(DAM, encoding="utf-8")
    folder, settings = tmp_path / "corpus", get_settings(index_dir=tmp_path / "index")
    assert settings.reader and settings.min_confidence is None
    fitted = fitted_refusal()
    assert fitted is not None
    answer = ask("Who finished the Zorvath dam?", corpus=folder, settings=settings)
    assert not answer.abstained and answer.confidence >= fitted[1] and answer.short is not None
    strict = ask(
        "Who finished the Zorvath dam?", corpus=folder, settings=settings.model_copy(update={"min_confidence": 1.0})
    )
    assert strict.abstained and strict.citations == () and strict.confidence == pytest.approx(answer.confidence)


@pytest.mark.integration
@pytest.mark.xfail(strict=True, reason="known: the reader's margin can favour a passage naming another canal")
def test_a_passage_that_names_another_canal_is_not_the_answer(tmp_path: Path) -> None:
    from rag.settings import get_settings

    (tmp_path / "corpus").mkdir()
    for i, name in enumerate(("Grand", "Erie", "Union")):
        text = f"The lock keeper of the {name} canal is called Keeper0{i}."
        (tmp_path / "corpus" / f"canal_0{i}.txt").write_text(text, encoding="utf-8")
    settings = get_settings(index_dir=tmp_path / "index")
    answer = ask("Who is the lock keeper of the Erie canal?", corpus=tmp_path / "corpus", settings=settings)
    assert answer.abstained or "Keeper01" in answer.text
