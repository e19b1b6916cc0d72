"""The extractive answerer: quote the best supporting sentences verbatim, or abstain."""

from __future__ import annotations

from collections.abc import Callable

from rag.retrieval import Query, Retriever, ScoredSentence
from rag.settings import Settings
from rag.types import Answer, Citation, Passage

ABSTAIN_TEXT = (
    "The corpus does not say. No passage supports an answer to this question closely enough; "
    "the closest passages are listed as related, not as an answer."
)
# Sentences from lower-ranked passages pay a small price, so ties go to the better passage.
RANK_PENALTY = 0.01


def rank_sentences(retriever: Retriever, q: Query, passages: list[Passage]) -> list[ScoredSentence]:
    """Candidate sentences of the passages, best first, each document span once."""
    best: dict[tuple[str, int, int], ScoredSentence] = {}
    for s in retriever.sentences(q, [p.chunk for p in passages]):
        key = (s.source, s.start, s.end)
        if key not in best or s.score > best[key].score:
            best[key] = s
    return sorted(best.values(), key=lambda s: -(s.score - RANK_PENALTY * s.rank))


def verified_citation(s: ScoredSentence, document_text: Callable[[str], str | None]) -> Citation | None:
    """A citation whose quote is the document's own text at its offsets, or None if it is not."""
    text = document_text(s.source)
    if text is None or text[s.start : s.end] != s.text:
        return None  # the document changed since it was indexed
    citation = Citation(s.source, s.start, s.end, text[s.start : s.end], s.score, s.chunk_id)
    assert text[citation.start : citation.end] == citation.quote
    return citation


def extractive_answer(
    question: str,
    q: Query,
    passages: list[Passage],
    retriever: Retriever,
    settings: Settings,
    document_text: Callable[[str], str | None],
    mode: str,
    related: tuple[Passage, ...] = (),
) -> Answer:
    """Compose an answer from at most ``settings.max_sentences`` verbatim sentences with markers."""
    ranked = rank_sentences(retriever, q, passages)
    chosen: list[Citation] = []
    if ranked and ranked[0].score >= settings.abstain_threshold:
        top = ranked[0].score
        for s in ranked:
            if len(chosen) >= settings.max_sentences:
                break
            if chosen and s.score < settings.second_sentence_ratio * top:
                break
            citation = verified_citation(s, document_text)
            if citation is not None:
                chosen.append(citation)
    if not chosen:
        return Answer(question, ABSTAIN_TEXT, True, (), related, mode, q.text)
    text = " ".join(f"{c.quote} [{i}]" for i, c in enumerate(chosen, start=1))
    return Answer(question, text, False, tuple(chosen), related, mode, q.text)
