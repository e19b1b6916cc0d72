"""Gather the evidence for one question, once: retrieve, then rank the sentences an answer may quote.

Every answerer (extractive or LLM) reads the same ``Evidence``; a fallback reuses it.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.language.answer_types import question_type
from rag.request import Request
from rag.retrieve.retrieval import Retriever, SentencesByChunk
from rag.types import CandidateSentence, Evidence, Passage


def gather_evidence(retriever: Retriever, request: Request, query: str) -> Evidence:
    """Retrieve for ``query`` (the standalone form of the request's question) and score its sentences.

    Hybrid retrieval has scored the sentences of its whole pool already; the other modes score
    those of the passages the answer is drawn from, in one batch.
    """
    q = retriever.query(query)
    found = retriever.retrieve(q, request.mode, max(request.top_k, retriever.settings.candidates), request.sources)
    shown = found.passages[: request.top_k]
    sentences = dict(found.sentences)
    missing = [p.chunk for p in shown if p.chunk.id not in sentences]
    if missing:
        sentences.update(retriever.score_sentences(q, missing))
    prior = retriever.weights.selection.passage_prior
    terms, texts = frozenset(q.terms), [p.chunk.text for p in shown]
    return Evidence(
        question=request.question,
        query=query,
        mode=request.mode,
        top_k=request.top_k,
        passages=tuple(found.passages),
        candidates=rank_sentences(shown, sentences, prior),
        question_type=question_type(query),
        passage_coverage=tuple(float(c) for c in retriever.scorer.coverage(terms, texts)),
        passage_missing=tuple(float(c) for c in retriever.scorer.missing(terms, texts)),
    )


def rank_sentences(
    passages: Sequence[Passage], sentences: SentencesByChunk, passage_prior: float
) -> tuple[CandidateSentence, ...]:
    """Sentences of ``passages`` best first by support plus a passage prior, each span once.

    The prior lowers a sentence by ``passage_prior`` per unit of relative score gap between its
    passage and the top one, so the answer favours the passage retrieval trusts most.
    """
    if not passages:
        return ()
    top = passages[0].score
    scale = max(abs(top), 1e-6)
    best: dict[tuple[str, int, int], CandidateSentence] = {}
    for rank, p in enumerate(passages):
        prior = passage_prior * (p.score - top) / scale
        for s in sentences.get(p.chunk.id, ()):
            key = (s.source, s.start, s.end)
            value = s.score + prior
            if key not in best or value > best[key].selection:
                best[key] = CandidateSentence(s, value, rank)
    return tuple(sorted(best.values(), key=lambda c: -c.selection))
