"""One question's evidence, computed once: real model, real Chroma, real BM25 on the default corpus."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rag import ask
from rag.core import get_engine
from rag.request import Request
from rag.retrieve.evidence import gather_evidence, rank_sentences
from rag.settings import MODES
from rag.types import Chunk, Passage, ScoredSentence

pytestmark = pytest.mark.integration

ARMS_Q = "How much in arms has the United States supplied to Ukraine?"


class EncoderSpy:
    """Records what an encoder is asked to embed, and how often it really runs the model."""

    def __init__(self, encoder, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
        self.cached_calls: list[list[str]] = []
        self.forward_calls: list[list[str]] = []
        encode, encode_cached = encoder.encode, encoder.encode_cached

        def spy_encode(texts, batch_size=None):  # type: ignore[no-untyped-def]
            self.forward_calls.append(list(texts))
            return encode(texts, batch_size)

        def spy_cached(texts):  # type: ignore[no-untyped-def]
            self.cached_calls.append(list(texts))
            return encode_cached(texts)

        monkeypatch.setattr(encoder, "encode", spy_encode)
        monkeypatch.setattr(encoder, "encode_cached", spy_cached)


@pytest.mark.parametrize("mode", MODES)
def test_sentences_are_scored_once_per_question(indexed, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    engine = get_engine(corpus, settings)
    engine.ensure_indexed()
    engine.encoder.clear_cache()  # the process has not seen the question
    spy = EncoderSpy(engine.encoder, monkeypatch)
    a = ask(f"{ARMS_Q} ({mode})", corpus=corpus, settings=settings, mode=mode)
    assert not a.abstained and "$360 million" in a.text
    # the model runs once, for the question: the sentences' vectors were made at index time
    assert spy.cached_calls == [[a.query]]
    assert spy.forward_calls == [[a.query]]
    assert a.evidence.candidates and all(c.sentence.dense != 0.0 for c in a.evidence.candidates)


def test_evidence_is_what_the_answer_rests_on(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    a = ask(ARMS_Q, corpus=corpus, settings=settings, top_k=3)
    ev = a.evidence
    assert (ev.question, ev.query, ev.mode, ev.top_k) == (ARMS_Q, ARMS_Q, "hybrid", 3)
    assert a.passages is ev.passages and 3 < len(ev.passages) <= max(3, settings.candidates)
    assert ev.shown == ev.passages[:3]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.top_k = 5  # type: ignore[misc]
    # candidates: sentences of the shown passages only, each span once, best first
    shown_ids = {p.chunk.id for p in ev.shown}
    assert ev.candidates and all(c.sentence.chunk_id in shown_ids for c in ev.candidates)
    spans = [(c.sentence.source, c.sentence.start, c.sentence.end) for c in ev.candidates]
    assert len(spans) == len(set(spans))
    selections = [c.selection for c in ev.candidates]
    assert selections == sorted(selections, reverse=True)
    # each candidate's offsets index its document; the first citation is the best candidate
    for c in ev.candidates:
        s = c.sentence
        assert Path(corpus, s.source).read_text(encoding="utf-8")[s.start : s.end] == s.text
    best = ev.candidates[0].sentence
    assert (a.citations[0].source, a.citations[0].start, a.citations[0].end) == (best.source, best.start, best.end)
    assert a.citations[0].score == pytest.approx(best.score)


def test_gather_evidence_uses_the_standalone_query(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    engine = get_engine(corpus, settings)
    engine.ensure_indexed()
    request = Request.build("And how much was that?", settings, ["What arms did the US supply to Ukraine?"])
    ev = gather_evidence(engine.retriever, request, "What arms did the US supply to Ukraine? And how much was that?")
    assert ev.question == "And how much was that?"
    assert ev.query.startswith("What arms") and ev.question_type == "number"
    assert any("$360 million" in c.sentence.text for c in ev.candidates[:3])


def _sentence(chunk: Chunk, score: float, at: int = 0) -> ScoredSentence:
    return ScoredSentence(chunk.source, chunk.start + at, chunk.start + at + 1, "s", chunk.id, score, score, 0.0)


@pytest.mark.unit
def test_rank_sentences_prefers_the_trusted_passage_and_keeps_each_span_once() -> None:
    a, b = Chunk("a", "d.txt", 0, 0, 10, "x" * 10), Chunk("b", "e.txt", 0, 0, 10, "y" * 10)
    passages = [Passage(a, 1.0), Passage(b, 0.5)]
    sentences = {"a": [_sentence(a, 0.50)], "b": [_sentence(b, 0.70), _sentence(b, 0.40, at=5)]}
    ranked = rank_sentences(passages, sentences, passage_prior=1.2)
    # b's sentence loses 1.2 * 0.5 = 0.6 for its passage's gap: 0.70 - 0.60 < 0.50
    assert [(c.sentence.chunk_id, c.passage_rank) for c in ranked] == [("a", 0), ("b", 1), ("b", 1)]
    assert ranked[0].selection == pytest.approx(0.5) and ranked[1].selection == pytest.approx(0.1)
    assert rank_sentences(passages, sentences, passage_prior=0.0)[0].sentence.chunk_id == "b"
    # the same span seen from two overlapping chunks counts once, with its best value
    twin = Chunk("a2", "d.txt", 1, 0, 10, "x" * 10)
    ranked = rank_sentences([*passages, Passage(twin, 0.9)], {**sentences, "a2": [_sentence(twin, 0.9)]}, 1.2)
    assert sum(c.sentence.source == "d.txt" for c in ranked) == 1
    assert rank_sentences([], sentences, 1.2) == ()
