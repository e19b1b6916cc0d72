"""The reading answerer: the span reader reads what retrieval found and decides the answer.

The passages the answer is drawn from are read whole by ``rag.answer.reader`` (in windows). The best
span over all of them is the short answer; the quote is the sentence of that passage holding it;
the confidence is the chance that sentence holds the answer, from the reader's margin of that
span over "no answer" and the retrieval evidence for the sentence (``rag.answer.refusal``), and
the answer is refused when that is under the bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.answering import ABSTAIN_TEXT, Composing, verified_citation
from rag.answer.reader import Span, reader
from rag.answer.refusal import Verdict, read_verdict
from rag.ingest.documents import DocumentSource
from rag.types import Answer, CandidateSentence, Citation, Evidence, ShortAnswer


@dataclass(frozen=True)
class Reading:
    """The reader's best span in document offsets, with the sentence that holds it."""

    span: Span
    source: str
    start: int
    end: int
    sentence: CandidateSentence | None


def read_evidence(evidence: Evidence) -> Reading | None:
    """The best span of the shown passages, or None when there is nothing to read."""
    shown = evidence.shown
    if not shown:
        return None
    spans = reader().read(evidence.query, [p.chunk.text for p in shown])
    found = [s for s in spans if s is not None]
    if not found:
        return None
    best = max(found, key=lambda s: s.margin)
    chunk = shown[best.text_index].chunk
    start, end = chunk.start + best.start, chunk.start + best.end
    return Reading(best, chunk.source, start, end, holding(evidence.candidates, chunk.source, start, end))


def holding(candidates: Sequence[CandidateSentence], source: str, start: int, end: int) -> CandidateSentence | None:
    """The candidate sentence holding the span (all of it, else its start)."""
    inside = [c for c in candidates if c.sentence.source == source and c.sentence.start <= start < c.sentence.end]
    whole = [c for c in inside if end <= c.sentence.end]
    found = whole or inside
    return found[0] if found else None


@dataclass(frozen=True)
class ReadingAnswerer(Composing):
    """Quote the sentence the reader's span is in, with the span as the short answer, or refuse."""

    name: str = "extractive"
    bar: float | None = None  # the confidence under which it refuses; None: the fitted one

    def compose(self, evidence: Evidence, documents: DocumentSource) -> Answer:
        reading = read_evidence(evidence)
        decided: Verdict = (
            read_verdict(evidence, reading.span.margin, reading.sentence, self.bar) if reading else Verdict(False, 0.0)
        )
        if reading is None or reading.sentence is None or not decided.answer:
            return Answer(ABSTAIN_TEXT, True, (), evidence, confidence=decided.confidence)
        citation = verified_citation(reading.sentence, documents)
        if citation is None:
            return Answer(ABSTAIN_TEXT, True, (), evidence, confidence=decided.confidence)
        short = short_in(citation, reading, documents, decided.confidence)
        return Answer(f"{citation.quote} [1]", False, (citation,), evidence, confidence=decided.confidence, short=short)


def short_in(citation: Citation, reading: Reading, documents: DocumentSource, confidence: float) -> ShortAnswer | None:
    """The span as a short answer inside the citation (where the sentence is now), or None."""
    shift = citation.start - reading.sentence.sentence.start if reading.sentence else 0
    start, end = reading.start + shift, min(reading.end + shift, citation.end)
    if not citation.start <= start < end:
        return None
    text = citation.quote[start - citation.start : end - citation.start]
    lead = len(text) - len(text.lstrip())
    text = text.strip()
    return ShortAnswer(text, citation.source, start + lead, start + lead + len(text), confidence, 0) if text else None
