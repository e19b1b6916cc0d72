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

from rag.answer.confidence import features
from rag.answer.conversation import standalone_query
from rag.answer.refusal import by_confidence, may_answer, type_found
from rag.ingest.documents import DocumentSource
from rag.language.nlp import prepare
from rag.request import Request
from rag.settings import Settings
from rag.types import Answer, CandidateSentence, Citation, Evidence, ScoredSentence
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

    def standalone_query(self, question: str, history: Sequence[str], last_answer: str = "") -> str:
        """The query to retrieve with: the question made to stand alone in its conversation."""
        ...

    def answer(self, evidence: Evidence, documents: DocumentSource) -> Iterator[str | Answer]:
        """Pieces of the answer's text as it is written, then the verified ``Answer``."""
        ...


class Composing:
    """An answerer that writes its whole answer at once (``compose``), then streams it in pieces."""

    def standalone_query(self, question: str, history: Sequence[str], last_answer: str = "") -> str:
        return standalone_query(question, history, last_answer)

    def answer(self, evidence: Evidence, documents: DocumentSource) -> Iterator[str | Answer]:
        answer = self.compose(evidence, documents)
        yield from stream_pieces(answer.text)
        yield answer

    def compose(self, evidence: Evidence, documents: DocumentSource) -> Answer:
        raise NotImplementedError


@dataclass(frozen=True)
class ExtractiveAnswerer(Composing):
    """Quote the best sentence verbatim (a second one only when it helps), or abstain.

    The first quote is the best-ranked sentence that verifies and scores at least
    ``abstain_threshold`` on its own. A second sentence (the first's neighbour in its document,
    or the runner-up) is added only when the confidence model (``rag.answer.confidence``) rates the two
    together ``second_sentence_gain`` above the first alone: it adds support the first lacks.
    The answer abstains when nothing clears the bar, when a date or number question finds no such
    value near the best evidence (``selection.gated_types``, a rule kept because the model,
    fitted on SQuAD, rarely sees counts of things the text never counts), or when its confidence
    is under ``min_confidence`` (fitted for 5 % false refusal, see ``Settings.min_confidence``).
    """

    max_sentences: int
    abstain_threshold: float
    second_sentence_gain: float
    min_confidence: float
    selection: SelectionWeights
    model: ConfidenceModel
    name: str = "extractive"

    @classmethod
    def for_request(cls, request: Request, settings: Settings) -> ExtractiveAnswerer:
        return cls(
            request.max_sentences,
            settings.abstain_threshold,
            settings.second_sentence_gain,
            fitted().thresholds.min_confidence if settings.min_confidence is None else settings.min_confidence,
            fitted().selection,
            fitted().confidence,
        )

    def confidence(self, evidence: Evidence, picked: Sequence[CandidateSentence]) -> float:
        """The model's probability that an answer quoting ``picked`` is right."""
        return self.model(features(evidence, picked)) if picked else 0.0

    def compose(self, evidence: Evidence, documents: DocumentSource) -> Answer:
        quotable = self._quotable(evidence, documents) if type_found(evidence, self.selection) else []
        if not quotable:
            confidence = self.confidence(evidence, evidence.candidates[:1])
            return Answer(ABSTAIN_TEXT, True, (), evidence, confidence=confidence)
        first = quotable[0]
        seconds = self._seconds(quotable) if self.max_sentences > 1 else []
        prepare([evidence.question, evidence.query, *(c.quote for _, c in [first, *seconds])])
        picked, alone = [first], self.confidence(evidence, [first[0]])
        confidence = alone
        for second in seconds:
            together = self.confidence(evidence, [first[0], second[0]])
            if together >= alone + self.second_sentence_gain and together > confidence:
                picked, confidence = [first, second], together
        if not by_confidence(confidence, self.min_confidence).answer:
            return Answer(ABSTAIN_TEXT, True, (), evidence, confidence=confidence)
        text = " ".join(f"{c.quote} [{i}]" for i, (_, c) in enumerate(picked, start=1))
        return Answer(text, False, tuple(c for _, c in picked), evidence, confidence=confidence)

    def _quotable(self, evidence: Evidence, documents: DocumentSource) -> list[tuple[CandidateSentence, Citation]]:
        """Candidates that clear the refusal bar on their own and verify, best first.

        The first is the answer; the rest are the sentences a second quote may come from.
        """
        out: list[tuple[CandidateSentence, Citation]] = []
        for c in evidence.candidates:
            if not may_answer(c, evidence.question_type, self.abstain_threshold, self.selection):
                continue
            citation = verified_citation(c, documents)
            if citation is not None:
                out.append((c, citation))
        return out

    @staticmethod
    def _seconds(quotable: list[tuple[CandidateSentence, Citation]]) -> list[tuple[CandidateSentence, Citation]]:
        """What may join the first quote: its neighbour in the document, and the runner-up; never
        the same words again (one sentence that two documents share is quoted once)."""
        first = quotable[0][0].sentence
        said = " ".join(quotable[0][1].quote.split())
        rest = [q for q in quotable[1:] if " ".join(q[1].quote.split()) != said]
        out = [q for q in rest if q[0].sentence.source == first.source and adjacent(q[0].sentence, first)]
        return out[:1] + [q for q in quotable[1:2] if q not in out[:1] and q in rest]


def adjacent(a: ScoredSentence, b: ScoredSentence) -> bool:
    """True when ``a`` and ``b`` follow each other in their document (at most two characters apart)."""
    return 0 <= a.start - b.end <= 2 or 0 <= b.start - a.end <= 2


def verified_citation(candidate: CandidateSentence, documents: DocumentSource) -> Citation | None:
    """A citation whose quote is the document's own text at its offsets, or None if it is gone.

    A sentence that moved (the document changed since it was indexed) is cited where it is now.
    """
    s = candidate.sentence
    span = documents.locate(s.source, s.start, s.end, s.text)
    if span is None:
        return None
    page = documents.page(s.source, span[0])
    return Citation(s.source, span[0], span[1], s.text, s.score, s.chunk_id, page)  # locate found s.text there


def stream_pieces(text: str, words: int = 3) -> list[str]:
    """The text cut into small pieces (a few words each) for streaming to a chat."""
    tokens = re.findall(r"\S+\s*", text)
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)]
