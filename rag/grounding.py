"""Check an LLM's answer against its citations, sentence by sentence.

The model cites passages as ``[n]``. For each sentence we look inside the cited passage for the
span (one sentence, or two adjacent ones) that supports it best, by a score mixing the share of
the sentence's rare terms found in the span with their embedding similarity. A sentence whose
citation is missing, out of range, or too weakly supported is flagged as unsupported; the
supported ones get a citation to the exact span, quoted verbatim from the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rag.retrieval import Retriever
from rag.text import sentence_spans, term_set
from rag.types import Citation, Passage

MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
REFUSAL = re.compile(
    r"(corpus|passages?|context|documents?) (does|do) not (say|contain|mention)|"
    r"\b(i (do not|don't|cannot|can't) (know|answer|find))|\bno (information|answer) (is )?(given|provided|available)",
    re.IGNORECASE,
)
W_LEX = 0.5
W_DENSE = 0.5


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


def is_refusal(text: str) -> bool:
    return bool(REFUSAL.search(text))


def support(retriever: Retriever, claim: str, passage: Passage) -> tuple[float, int, int]:
    """Best support score of ``claim`` within ``passage``, with the span's document offsets."""
    chunk = passage.chunk
    spans = sentence_spans(chunk.text)
    windows = [(a, b) for a, b in spans] + [(spans[i][0], spans[i + 1][1]) for i in range(len(spans) - 1)]
    if not windows:
        return 0.0, chunk.start, chunk.start
    texts = [chunk.text[a:b] for a, b in windows]
    claim_vec = retriever.encoder.encode_cached([claim])[0]
    dense = retriever.encoder.encode_cached(texts) @ claim_vec
    claim_terms = term_set(claim)
    weight = sum(retriever.bm25.idf(t) for t in claim_terms) or 1.0
    best = (-1.0, 0, 0)
    for (a, b), text, d in zip(windows, texts, dense, strict=True):
        lex = sum(retriever.bm25.idf(t) for t in claim_terms & term_set(text)) / weight
        score = W_LEX * lex + W_DENSE * float(d)
        if score > best[0]:
            best = (score, chunk.start + a, chunk.start + b)
    return best


def ground(
    text: str,
    passages: list[Passage],
    retriever: Retriever,
    document_text: Callable[[str], str | None],
    threshold: float,
    strict: bool,
) -> Grounded:
    """Map each generated sentence to an exact supporting span, or flag it."""
    sentences = split_generated(text)
    citations: list[Citation] = []
    index: dict[tuple[str, int, int], int] = {}
    parts: list[str] = []
    unsupported: list[str] = []
    for s in sentences:
        found: list[int] = []
        valid = bool(s.cited) and all(1 <= n <= len(passages) for n in s.cited)
        if valid:
            for n in dict.fromkeys(s.cited):
                score, start, end = support(retriever, s.claim, passages[n - 1])
                source = passages[n - 1].chunk.source
                doc = document_text(source)
                if (
                    score < threshold
                    or doc is None
                    or doc[start:end]
                    != passages[n - 1].chunk.text[
                        start - passages[n - 1].chunk.start : end - passages[n - 1].chunk.start
                    ]
                ):
                    continue
                key = (source, start, end)
                if key not in index:
                    citations.append(Citation(source, start, end, doc[start:end], score))
                    index[key] = len(citations)
                found.append(index[key])
        if found:
            parts.append(s.claim + " " + "".join(f"[{i}]" for i in found))
        else:
            unsupported.append(s.written)
            if not strict:
                parts.append(f"{s.claim} [unsupported]")
    return Grounded(" ".join(parts), tuple(citations), tuple(unsupported), len(sentences))
