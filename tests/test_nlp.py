"""spaCy's pipeline as the answerer uses it: one batch per answer, parses reused, memory bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rag.language import nlp
from rag.language.text import sentence_spans

ROOT = Path(__file__).resolve().parents[1]


def _sentences(n: int) -> list[str]:
    text = sorted((ROOT / "corpus").iterdir())[0].read_text(encoding="utf-8")
    return [text[a:b] for a, b in sentence_spans(text)][:n]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every batch the pipeline parses, as the list of its texts."""
    pipeline = nlp._pipeline()
    batches: list[list[str]] = []
    original = pipeline.pipe

    def pipe(texts: Any, **kwargs: Any) -> Any:
        texts = list(texts)
        batches.append(texts)
        return original(texts, **kwargs)

    monkeypatch.setattr(pipeline, "pipe", pipe)
    monkeypatch.setattr(nlp, "_recent", type(nlp._recent)())
    monkeypatch.setattr(nlp, "_analyses", type(nlp._analyses)())
    return batches


@pytest.mark.unit
def test_an_answers_texts_are_parsed_in_one_batch_and_read_again_without_parsing(counted: list[list[str]]) -> None:
    question, *quotes = ["Who is the Chinese Embassy spokesman?", *_sentences(3)]
    nlp.prepare([question, *quotes, quotes[0], ""])
    assert counted == [[question, *quotes]]  # once each; nothing for an empty text
    first = nlp.parse_recent(quotes[1])
    assert nlp.analyse(quotes[2]).entities == tuple(
        nlp.Entity(e.text, e.label_) for e in nlp.parse_recent(quotes[2]).ents
    )
    assert nlp.parse_recent(quotes[1]) is first
    assert counted == [[question, *quotes]]  # the readers after it parsed nothing again


@pytest.mark.unit
def test_texts_already_analysed_are_not_parsed_again(counted: list[list[str]]) -> None:
    """The warm path: an answer asked again reads its cached analyses, even once its parses are gone."""
    texts = _sentences(4)
    first = [nlp.analyse(t) for t in texts]
    nlp._recent.clear()
    counted.clear()
    nlp.prepare(texts)
    assert [nlp.analyse(t) for t in texts] == first
    assert counted == []
    nlp.forget()
    nlp.prepare(texts)
    assert counted == [texts]


@pytest.mark.unit
def test_recent_parses_are_bounded(counted: list[list[str]]) -> None:
    texts = [f"Sentence number {i} was written by Ingrid Dahl in Oslo." for i in range(nlp.RECENT + 10)]
    nlp.prepare(texts)
    assert len(nlp._recent) == nlp.RECENT
    nlp.parse_recent(texts[-1])  # still kept
    nlp.parse_recent(texts[0])  # dropped: parsed again, alone
    assert [len(b) for b in counted] == [len(texts), 1]


@pytest.mark.unit
def test_the_whole_pipeline_finds_the_entities_the_entity_recogniser_alone_finds() -> None:
    """The features were fitted on entity-only runs; the batch runs the whole pipeline instead."""
    pipeline = nlp._pipeline()
    alone = ["tagger", "parser", "attribute_ruler"]
    for sentence in _sentences(25):
        with pipeline.select_pipes(disable=[n for n in alone if n in pipeline.pipe_names]):
            expected = [(e.start_char, e.end_char, e.label_) for e in pipeline(sentence).ents]
        assert [(e.start_char, e.end_char, e.label_) for e in nlp.parse_recent(sentence).ents] == expected
