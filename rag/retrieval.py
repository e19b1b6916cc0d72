"""Dense, BM25 and hybrid retrieval over one index, with sentence-level reranking for hybrid.

Hybrid fuses the dense and BM25 lists with reciprocal rank fusion, then reranks the pool with
features that neither list sees alone: the best single sentence of each chunk (how close it is
to the question and how much of the question's rare vocabulary it holds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.answer_types import offers_type, question_type
from rag.embedding import Encoder
from rag.lexical import BM25Index
from rag.settings import Mode, Settings
from rag.store import IndexStore
from rag.text import sentence_spans, term_set, terms
from rag.types import Chunk, Passage

# Reranking weights, fitted by bench/tune_rerank.py on 1,500 SQuAD dev questions (seed 1).
W_CHUNK_DENSE = 0.4
W_CHUNK_BM25 = 0.2
W_SENTENCE = 1.0
W_RRF = 2.0
# Sentence score: dense similarity, idf-weighted coverage of the question's terms, and a small
# bonus when the sentence holds an answer of the type the question asks for (date, number...).
W_SENT_DENSE = 0.5
W_SENT_LEX = 0.5
W_SENT_TYPE = 0.05


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a retrieved chunk, in document offsets, with its evidence score."""

    source: str
    start: int
    end: int
    text: str
    score: float
    dense: float
    lexical: float
    chunk_id: str
    rank: int
    typed: bool = False


@dataclass(frozen=True)
class Candidate:
    """A chunk in the hybrid pool with the features of its rerank score."""

    chunk: Chunk
    dense: float
    bm25: float
    bm25_norm: float
    rrf: float
    best_sentence: float

    def rerank_score(self) -> float:
        return (
            W_CHUNK_DENSE * self.dense
            + W_CHUNK_BM25 * self.bm25_norm
            + W_SENTENCE * self.best_sentence
            + W_RRF * self.rrf
        )


@dataclass(frozen=True)
class Query:
    text: str
    vector: np.ndarray
    terms: list[str]


class Retriever:
    def __init__(self, store: IndexStore, encoder: Encoder, bm25: BM25Index, settings: Settings) -> None:
        self.store = store
        self.encoder = encoder
        self.bm25 = bm25
        self.settings = settings

    def query(self, text: str) -> Query:
        return Query(text, self.encoder.encode_cached([text])[0], terms(text))

    def retrieve(self, q: Query, mode: Mode, depth: int) -> list[Passage]:
        """Up to ``depth`` passages, best first."""
        if mode == "dense":
            return [Passage(c, s, dense=s) for c, s in self.store.query_dense(q.vector, depth)]
        bm25_scores = self.bm25.scores(q.terms)
        if mode == "bm25":
            top = _top_indices(bm25_scores, depth)
            chunks = self.store.get_chunks([self.bm25.ids[i] for i in top])
            return [
                Passage(chunks[self.bm25.ids[i]], float(bm25_scores[i]), bm25=float(bm25_scores[i]))
                for i in top
                if self.bm25.ids[i] in chunks
            ]
        return self._hybrid(q, bm25_scores, depth)

    def pool(self, q: Query, bm25_scores: np.ndarray) -> list[Candidate]:
        """Union of the dense and BM25 top lists, with every feature the reranker uses."""
        k = self.settings.candidates
        dense = self.store.query_dense(q.vector, k)
        bm25_top = _top_indices(bm25_scores, k)
        rrf: dict[str, float] = {}
        chunks: dict[str, Chunk] = {}
        cos: dict[str, float] = {}
        for rank, (chunk, sim) in enumerate(dense):
            rrf[chunk.id] = rrf.get(chunk.id, 0.0) + 1.0 / (self.settings.rrf_k + rank + 1)
            chunks[chunk.id] = chunk
            cos[chunk.id] = sim
        for rank, i in enumerate(bm25_top):
            cid = self.bm25.ids[i]
            rrf[cid] = rrf.get(cid, 0.0) + 1.0 / (self.settings.rrf_k + rank + 1)
        missing = [cid for cid in rrf if cid not in chunks]
        if missing:
            chunks.update(self.store.get_chunks(missing))
            for cid, emb in self.store.embeddings(missing).items():
                cos[cid] = float(np.dot(q.vector, emb))
        ids = [cid for cid in rrf if cid in chunks]
        bm25_max = max(float(bm25_scores.max()) if len(bm25_scores) else 0.0, 1e-9)
        best = self.best_sentences(q, [chunks[c] for c in ids])
        out = []
        for cid in ids:
            b = float(bm25_scores[self.bm25.position[cid]]) if cid in self.bm25.position else 0.0
            out.append(Candidate(chunks[cid], cos.get(cid, 0.0), b, b / bm25_max, rrf[cid], best.get(cid, 0.0)))
        return out

    def _hybrid(self, q: Query, bm25_scores: np.ndarray, depth: int) -> list[Passage]:
        scored = [Passage(c.chunk, c.rerank_score(), dense=c.dense, bm25=c.bm25) for c in self.pool(q, bm25_scores)]
        scored.sort(key=lambda p: -p.score)
        return scored[:depth]

    def sentences(self, q: Query, chunks: list[Chunk]) -> list[ScoredSentence]:
        """Every sentence of every chunk, scored; overlapping chunks repeat a sentence."""
        spans = [(rank, chunk, a, b) for rank, chunk in enumerate(chunks) for a, b in sentence_spans(chunk.text)]
        if not spans:
            return []
        texts = [c.text[a:b] for _, c, a, b in spans]
        dense = self.encoder.encode_cached(texts) @ q.vector
        q_terms = set(q.terms)
        q_weight = sum(self.bm25.idf(t) for t in q_terms) or 1.0
        qtype = question_type(q.text)
        out = []
        for (rank, chunk, a, b), text, d in zip(spans, texts, dense, strict=True):
            lex = sum(self.bm25.idf(t) for t in q_terms.intersection(term_set(text))) / q_weight
            typed = offers_type(text, qtype, q.text)
            score = W_SENT_DENSE * float(d) + W_SENT_LEX * lex + W_SENT_TYPE * typed
            out.append(
                ScoredSentence(
                    chunk.source, chunk.start + a, chunk.start + b, text, score, float(d), lex, chunk.id, rank, typed
                )
            )
        return out

    def best_sentences(self, q: Query, chunks: list[Chunk]) -> dict[str, float]:
        """chunk id -> score of its best sentence."""
        best: dict[str, float] = {}
        for s in self.sentences(q, chunks):
            best[s.chunk_id] = max(best.get(s.chunk_id, 0.0), s.score)
        return best


def _top_indices(scores: np.ndarray, k: int) -> list[int]:
    if not len(scores):
        return []
    k = min(k, len(scores))
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return [int(i) for i in idx if scores[i] > 0]
