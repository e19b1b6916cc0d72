"""The extractive answerer: quote the best supporting sentences verbatim, or abstain."""

from __future__ import annotations

import re
from collections.abc import Callable

from rag.answer_types import question_type
from rag.retrieval import Query, Retriever, ScoredSentence
from rag.settings import Settings
from rag.types import Answer, Citation, Passage

ABSTAIN_TEXT = (
    "The corpus does not say. No passage supports an answer to this question closely enough; "
    "the closest passages are listed as related, not as an answer."
)
# A sentence's selection score drops by this much per unit of relative passage-score gap to the
# top passage, so the answer favours the passage retrieval trusts most (bench/tune_rerank.py).
PASSAGE_PRIOR = 1.2
# Questions that ask for a date or a number are answered only if a sentence close to the best
# one holds a date or a number the question does not already contain; otherwise the corpus
# mentions the topic but not the fact (a near miss), and the answer abstains.
GATED_TYPES = ("date", "number")
TYPE_GATE_MARGIN = 0.3


def rank_sentences(retriever: Retriever, q: Query, passages: list[Passage]) -> list[tuple[float, ScoredSentence]]:
    """Candidate sentences of the passages with their selection score, best first, each span once."""
    if not passages:
        return []
    top = passages[0].score
    scale = max(abs(top), 1e-6)
    prior = [PASSAGE_PRIOR * (p.score - top) / scale for p in passages]
    best: dict[tuple[str, int, int], tuple[float, ScoredSentence]] = {}
    for s in retriever.sentences(q, [p.chunk for p in passages]):
        key = (s.source, s.start, s.end)
        value = s.score + prior[s.rank]
        if key not in best or value > best[key][0]:
            best[key] = (value, s)
    return sorted(best.values(), key=lambda item: -item[0])


def _type_found(q: Query, ranked: list[tuple[float, ScoredSentence]]) -> bool:
    if question_type(q.text) not in GATED_TYPES:
        return True
    floor = ranked[0][0] - TYPE_GATE_MARGIN
    return any(s.typed for value, s in ranked if value >= floor)


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
    if ranked and ranked[0][1].score >= settings.abstain_threshold and _type_found(q, ranked):
        top = ranked[0][0]
        for value, s in ranked:
            if len(chosen) >= settings.max_sentences:
                break
            if chosen and value < settings.second_sentence_ratio * top:
                break
            citation = verified_citation(s, document_text)
            if citation is not None:
                chosen.append(citation)
    if not chosen:
        return Answer(question, ABSTAIN_TEXT, True, (), related, mode, q.text)
    text = " ".join(f"{c.quote} [{i}]" for i, c in enumerate(chosen, start=1))
    return Answer(question, text, False, tuple(chosen), related, mode, q.text)


def stream_pieces(text: str, words: int = 3) -> list[str]:
    """The text cut into small pieces (a few words each) for streaming to a chat."""
    tokens = re.findall(r"\S+\s*", text)
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)]
