"""Answerers: strategies that turn one question's ``Evidence`` into an ``Answer``.

An answerer knows nothing of the engine: it reads the evidence, checks every quote against the
``DocumentSource``, and yields pieces of text (for chat UIs) before the finished ``Answer``.
The extractive answerer here quotes the best supporting sentences verbatim, or abstains.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.confidence import features
from rag.conversation import standalone_query
from rag.documents import DocumentSource
from rag.request import Request
from rag.settings import Settings
from rag.types import Answer, CandidateSentence, Citation, Evidence
from rag.weights import ConfidenceModel, SelectionWeights, fitted

ABSTAIN_TEXT = (
    "The corpus does not say. No passage supports an answer to this question closely enough; "
    "the closest passages are listed as related, not as an answer."
)


class Answerer(Protocol):
    @property
    def name(self) -> str:
        """What ``Answer.answerer`` says wrote the answer."""
        ...

    def standalone_query(self, question: str, history: Sequence[str]) -> str:
        """The query to retrieve with: the question made to stand alone in its conversation."""
        ...

    def answer(self, evidence: Evidence, documents: DocumentSource) -> Iterator[str | Answer]:
        """Pieces of the answer's text as it is written, then the verified ``Answer``."""
        ...


@dataclass(frozen=True)
class ExtractiveAnswerer:
    """Quote at most ``max_sentences`` verbatim sentences with markers, or abstain.

    Abstains when the best sentence scores under ``abstain_threshold``, or when a question that
    asks for a date or a number (``selection.gated_types``) finds no sentence close to the best
    one holding such a value the question lacks: the corpus mentions the topic but not the fact.
    Every answer carries the fitted model's confidence (``rag.confidence``) in what it quotes;
    under ``min_confidence`` (off by default, see ``Settings.min_confidence``) it abstains too.
    """

    max_sentences: int
    abstain_threshold: float
    second_sentence_ratio: float
    min_confidence: float
    selection: SelectionWeights
    model: ConfidenceModel
    name: str = "extractive"

    @classmethod
    def for_request(cls, request: Request, settings: Settings) -> ExtractiveAnswerer:
        w = fitted()
        return cls(
            request.max_sentences,
            settings.abstain_threshold,
            settings.second_sentence_ratio,
            settings.min_confidence,
            w.selection,
            w.confidence,
        )

    def standalone_query(self, question: str, history: Sequence[str]) -> str:
        return standalone_query(question, history)

    def answer(self, evidence: Evidence, documents: DocumentSource) -> Iterator[str | Answer]:
        answer = self.compose(evidence, documents)
        yield from stream_pieces(answer.text)
        yield answer

    def confidence(self, evidence: Evidence, picked: Sequence[CandidateSentence]) -> float:
        """The model's probability that an answer quoting ``picked`` is right."""
        return self.model(features(evidence, picked)) if picked else 0.0

    def compose(self, evidence: Evidence, documents: DocumentSource) -> Answer:
        ranked = evidence.candidates
        picked: list[CandidateSentence] = []
        chosen: list[Citation] = []
        if ranked and ranked[0].sentence.score >= self.abstain_threshold and self._type_found(evidence):
            top = ranked[0].selection
            for c in ranked:
                if len(chosen) >= self.max_sentences:
                    break
                if chosen and c.selection < self.second_sentence_ratio * top:
                    break
                citation = verified_citation(c, documents)
                if citation is not None:
                    picked.append(c)
                    chosen.append(citation)
        confidence = self.confidence(evidence, picked or ranked[:1])
        if not chosen or confidence < self.min_confidence:
            return Answer(ABSTAIN_TEXT, True, (), evidence, confidence=confidence)
        text = " ".join(f"{c.quote} [{i}]" for i, c in enumerate(chosen, start=1))
        return Answer(text, False, tuple(chosen), evidence, confidence=confidence)

    def _type_found(self, evidence: Evidence) -> bool:
        if evidence.question_type not in self.selection.gated_types:
            return True
        floor = evidence.candidates[0].selection - self.selection.type_gate_margin
        return any(c.sentence.typed for c in evidence.candidates if c.selection >= floor)


def verified_citation(candidate: CandidateSentence, documents: DocumentSource) -> Citation | None:
    """A citation whose quote is the document's own text at its offsets, or None if it is not."""
    s = candidate.sentence
    quote = documents.quote(s.source, s.start, s.end, s.text)
    if quote is None:
        return None  # the document changed since it was indexed
    return Citation(s.source, s.start, s.end, quote, s.score, s.chunk_id)


def stream_pieces(text: str, words: int = 3) -> list[str]:
    """The text cut into small pieces (a few words each) for streaming to a chat."""
    tokens = re.findall(r"\S+\s*", text)
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)]
