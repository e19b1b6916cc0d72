"""Check an LLM's answer against its citations, sentence by sentence.

The model cites passages as ``[n]``. For each sentence we look inside the cited passage for the
span (one sentence, or two adjacent ones) that supports it best, by the one sentence-support
score of ``rag.retrieve.scoring`` (the share of the sentence's rare terms found in the span, and their
embedding similarity). A sentence whose citation is missing, out of range, or too weakly
supported is flagged as unsupported; the supported ones get a citation to the exact span, quoted
verbatim from the document.

Support is not agreement: a sentence that shares its span's words but swaps a name, adds or
drops a negation or brings a number of its own contradicts it. ``contradiction`` catches those
three, so such a sentence is flagged however well it scores.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.ingest.documents import DocumentSource
from rag.language.text import sentence_spans, term_set
from rag.language.units import readings
from rag.retrieve.scoring import SentenceScorer
from rag.types import Citation, Passage

MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
REFUSAL = re.compile(
    r"(corpus|passages?|context|documents?) (does|do) not (say|contain|mention)|"
    r"\b(i (do not|don't|cannot|can't) (know|answer|find))|\bno (information|answer) (is )?(given|provided|available)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Grounded:
    text: str
    citations: tuple[Citation, ...]
    unsupported: tuple[str, ...]
    generated: int


@dataclass(frozen=True)
class _Sentence:
    written: str  # as the model wrote it, markers included
    claim: str  # without markers
    cited: tuple[int, ...]


def split_generated(text: str) -> list[_Sentence]:
    """Sentences of the model's text; markers written after the period stay with their sentence."""
    out: list[_Sentence] = []
    for a, b in sentence_spans(text):
        piece = text[a:b]
        claim = MARKER.sub("", piece).strip()
        cited = tuple(int(n) for group in MARKER.findall(piece) for n in re.split(r"\s*,\s*", group))
        if not claim and out:  # a lone "[2]" after "... said."
            prev = out[-1]
            out[-1] = _Sentence(f"{prev.written} {piece}", prev.claim, prev.cited + cited)
        elif claim:
            out.append(_Sentence(piece, claim, cited))
    return out


_NEGATION = re.compile(r"\b(?:not|no|never|none|nobody|nothing|neither|nor|without|cannot)\b|n't\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"\b[A-Z][\w'’.-]*[A-Za-z]")
_COMMON = frozenset(
    [
        "a",
        "an",
        "the",
        "he",
        "she",
        "it",
        "its",
        "they",
        "them",
        "their",
        "his",
        "her",
        "we",
        "our",
        "you",
        "your",
        "i",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "in",
        "on",
        "at",
        "of",
        "for",
        "to",
        "from",
        "by",
        "with",
        "as",
        "and",
        "or",
        "but",
        "if",
        "so",
        "yes",
        "no",
        "not",
        "also",
        "however",
        "according",
        "mr",
        "mrs",
        "ms",
        "dr",
    ]
)


def contradiction(claim: str, span: str, question: str = "") -> str:
    """Why ``claim`` contradicts the ``span`` it cites ("" when it does not, as far as words tell).

    Checked: a number the span does not give, a negation on one side only, and a name (a
    capitalised word) found neither in the span nor in the question.
    """
    known = f"{span} {question}"
    numbers = {n.replace(",", "") for n in _NUMBER.findall(known)}
    extra = [n for n in _NUMBER.findall(claim) if n.replace(",", "") not in numbers]
    if extra:
        return f"a number the passage does not give ({extra[0]})"
    if bool(_NEGATION.search(claim)) != bool(_NEGATION.search(span)):
        return "a negation on one side only" if _NEGATION.search(claim) else "it drops the passage's negation"
    words = {w.lower() for w in re.findall(r"[\w'’.-]+", known)} | {w.lower().strip(".") for w in known.split()}
    for name in _NAME.findall(claim):
        low = name.lower().rstrip(".")
        if low in _COMMON or low in words or low.rstrip("'’s") in words:
            continue
        return f"a name the passage does not hold ({name})"
    return ""


def is_refusal(text: str) -> bool:
    return bool(REFUSAL.search(text))


def support(scorer: SentenceScorer, claim: str, passage: Passage) -> tuple[float, int, int]:
    """Best support score of ``claim`` within ``passage``, with the span's document offsets.

    The span is one sentence of the passage or two adjacent ones, scored by the same
    sentence-support function the retriever ranks with (no answer-type bonus for a claim).
    """
    chunk = passage.chunk
    units = readings(chunk.text, chunk.headings, chunk.opens)  # headings are never the support of a claim
    windows = [(r.start, r.end, r.text) for r in units] + [
        (x.start, y.end, f"{x.text} {y.own}") for x, y in itertools.pairwise(units)
    ]
    if not windows:
        return 0.0, chunk.start, chunk.start
    result = scorer.support(scorer.vector(claim), term_set(claim), [r for *_, r in windows])
    best = int(result.score.argmax())
    a, b, _ = windows[best]
    return float(result.score[best]), chunk.start + a, chunk.start + b


@dataclass(frozen=True)
class Bar:
    """What a generated sentence must clear: ``threshold`` support, no contradiction of its span
    (names may also come from ``question``); ``strict`` drops the sentences that fail."""

    threshold: float
    strict: bool = False
    question: str = ""


def ground(
    text: str, passages: Sequence[Passage], scorer: SentenceScorer, documents: DocumentSource, bar: Bar
) -> Grounded:
    """Map each generated sentence to an exact supporting span, or flag it.

    A span that contradicts its sentence (``contradiction``) supports nothing."""
    citations: list[Citation] = []
    index: dict[tuple[str, int, int], int] = {}
    parts: list[str] = []
    unsupported: list[str] = []
    sentences = split_generated(text)
    for s in sentences:
        found: list[int] = []
        if s.cited and all(1 <= n <= len(passages) for n in s.cited):
            for n in dict.fromkeys(s.cited):
                citation = _supporting_span(s.claim, passages[n - 1], scorer, documents, bar)
                if citation is None:
                    continue
                key = (citation.source, citation.start, citation.end)
                if key not in index:
                    citations.append(citation)
                    index[key] = len(citations)
                found.append(index[key])
        if found:
            parts.append(s.claim + " " + "".join(f"[{i}]" for i in found))
        else:
            unsupported.append(s.written)
            if not bar.strict:
                parts.append(f"{s.claim} [unsupported]")
    return Grounded(" ".join(parts), tuple(citations), tuple(unsupported), len(sentences))


def _supporting_span(
    claim: str, passage: Passage, scorer: SentenceScorer, documents: DocumentSource, bar: Bar
) -> Citation | None:
    """The verified span of ``passage`` that supports ``claim`` over ``bar``, or None."""
    score, start, end = support(scorer, claim, passage)
    chunk = passage.chunk
    if score < bar.threshold or contradiction(claim, chunk.text[start - chunk.start : end - chunk.start], bar.question):
        return None
    quote = documents.quote(chunk.source, start, end, chunk.text[start - chunk.start : end - chunk.start])
    if quote is None:
        return None
    return Citation(chunk.source, start, end, quote, score, page=documents.page(chunk.source, start))
