"""The one sentence-support score: how well a sentence supports a text (a question or a claim).

The retriever's reranker scores sentences against the question with it, and the LLM grounding
scores windows of a cited passage against a generated claim with it: a weighted sum of the
embedding cosine, the idf-weighted share of the text's terms the sentence holds, and (for
questions) a bonus when the sentence offers an answer of the asked-for type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.language.embedding import Encoder
from rag.language.text import term_set
from rag.weights import SentenceWeights


@dataclass(frozen=True)
class Support:
    """Scores of sentences against one text, one entry per sentence."""

    score: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray


class SentenceScorer:
    def __init__(self, encoder: Encoder, idf: Callable[[str], float], weights: SentenceWeights) -> None:
        self.encoder = encoder
        self.idf = idf
        self.weights = weights

    def vector(self, text: str) -> np.ndarray:
        return self.encoder.encode_cached([text])[0]

    def coverage(self, terms: frozenset[str], texts: list[str]) -> np.ndarray:
        """Idf-weighted share of ``terms`` each text holds (rare terms count most)."""
        weight = sum(self.idf(t) for t in terms) or 1.0
        return np.array([sum(self.idf(t) for t in terms.intersection(term_set(s))) / weight for s in texts])

    def missing(self, terms: frozenset[str], texts: list[str]) -> np.ndarray:
        """For each text, the idf of the rarest of ``terms`` it lacks over that of the rarest term.

        1.0 when the question's rarest word is absent (a swapped name, an invented detail), 0.0
        when every term is present: a text can cover most of a question and still miss its point.
        """
        idf = {t: self.idf(t) for t in terms}
        top = max(idf.values(), default=0.0) or 1.0
        return np.array([max((v for t, v in idf.items() if t not in term_set(s)), default=0.0) / top for s in texts])

    def support(
        self,
        vector: np.ndarray,
        terms: frozenset[str],
        sentences: list[str],
        typed: Sequence[bool] = (),
        vectors: np.ndarray | None = None,
    ) -> Support:
        """Score ``sentences`` against the text with unit ``vector`` and term set ``terms``.

        ``vectors`` are the sentences' own, made at index time; without them all sentences are
        encoded in one call (cached by text).
        """
        if not sentences:
            empty = np.zeros(0, dtype=np.float32)
            return Support(empty, empty, empty)
        dense = (self.encoder.encode_cached(sentences) if vectors is None else vectors) @ vector
        lexical = self.coverage(terms, sentences)
        w = self.weights
        score = w.dense * dense.astype(np.float64) + w.lexical * lexical
        if len(typed):
            score = score + w.answer_type * np.asarray(typed, dtype=np.float64)
        return Support(score, dense, lexical)
