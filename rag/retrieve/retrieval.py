"""Dense, BM25 and hybrid retrieval over one index, with sentence-level reranking for hybrid.

Hybrid fuses the dense and BM25 lists with reciprocal rank fusion, then reranks the pool with
features that neither list sees alone: the best single sentence of each chunk (how close it is
to the question and how much of the question's rare vocabulary it holds). The sentences scored
on the way are returned with the passages, so nothing is scored twice for one question.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rag.index.lexical import BM25Index, top_indices
from rag.index.store import IndexStore, text_hash
from rag.ingest.chunking import doc_key
from rag.language.answer_types import offers_type, question_type
from rag.language.embedding import Encoder
from rag.language.sentence_vectors import embed as embed_units
from rag.language.sentence_vectors import unpack
from rag.language.text import terms
from rag.language.units import readings
from rag.retrieve.fusion import reciprocal_rank_fusion
from rag.retrieve.scoring import SentenceScorer
from rag.settings import Mode, Settings
from rag.types import Chunk, Passage, ScoredSentence
from rag.weights import RerankWeights, Weights, fitted

SentencesByChunk = dict[str, list[ScoredSentence]]


@dataclass(frozen=True)
class PoolEntry:
    """A chunk in the hybrid pool with the features of its rerank score."""

    chunk: Chunk
    dense: float
    bm25: float
    bm25_norm: float
    rrf: float
    best_sentence: float

    def rerank_score(self, w: RerankWeights) -> float:
        return (
            w.chunk_dense * self.dense
            + w.chunk_bm25 * self.bm25_norm
            + w.best_sentence * self.best_sentence
            + w.rrf * self.rrf
        )


@dataclass(frozen=True)
class Query:
    text: str
    vector: np.ndarray
    terms: list[str]


@dataclass(frozen=True)
class Retrieval:
    """Passages best first, and the sentences scored while ranking them (hybrid only), by chunk id."""

    passages: list[Passage]
    sentences: SentencesByChunk = field(default_factory=dict)


class Retriever:
    def __init__(
        self, store: IndexStore, encoder: Encoder, bm25: BM25Index, settings: Settings, weights: Weights | None = None
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.bm25 = bm25
        self.settings = settings
        self.weights = weights or fitted()
        self.scorer = SentenceScorer(encoder, bm25.idf, self.weights.sentence)
        self._masks: dict[tuple[str, ...], np.ndarray] = {}

    def _source_mask(self, sources: tuple[str, ...]) -> np.ndarray:
        """True for the BM25 positions of chunks of ``sources`` (chunk ids start with their document's key)."""
        mask = self._masks.get(sources)
        if mask is None:
            keys = {doc_key(s) for s in sources}
            mask = np.fromiter((cid.split("-", 1)[0] in keys for cid in self.bm25.ids), bool, len(self.bm25.ids))
            if len(self._masks) > 16:
                self._masks.clear()
            self._masks[sources] = mask  # one atomic store: concurrent questions may share it
        return mask

    def query(self, text: str) -> Query:
        return Query(text, self.scorer.vector(text), terms(text))

    def retrieve(self, q: Query, mode: Mode, depth: int, sources: tuple[str, ...] = ()) -> Retrieval:
        """Up to ``depth`` passages, best first; only from ``sources`` when given."""
        if mode == "dense":
            dense = self.store.query_dense(q.vector, depth, self.bm25.position, sources)
            return Retrieval([Passage(c, s, dense=s) for c, s in dense])
        bm25_scores = self.bm25.scores(q.terms)
        if sources:
            bm25_scores = np.where(self._source_mask(sources), bm25_scores, 0.0)
        if mode == "bm25":
            top = top_indices(bm25_scores, depth)
            if sources:
                mask = self._source_mask(sources)
                top = [i for i in top if mask[i]]
            chunks = self.store.get_chunks([self.bm25.ids[i] for i in top])
            return Retrieval(
                [
                    Passage(chunks[self.bm25.ids[i]], float(bm25_scores[i]), bm25=float(bm25_scores[i]))
                    for i in top
                    if self.bm25.ids[i] in chunks
                ]
            )
        pool, sentences = self.pool(q, bm25_scores, sources)
        w = self.weights.rerank
        scored = [Passage(e.chunk, e.rerank_score(w), dense=e.dense, bm25=e.bm25) for e in pool]
        scored.sort(key=lambda p: -p.score)
        return Retrieval(scored[:depth], sentences)

    def pool(
        self, q: Query, bm25_scores: np.ndarray, sources: tuple[str, ...] = ()
    ) -> tuple[list[PoolEntry], SentencesByChunk]:
        """Union of the dense and BM25 top lists with every feature the reranker uses, and their sentences."""
        k = self.settings.candidates
        dense = self.store.query_dense(q.vector, k, self.bm25.position, sources)
        bm25_top = [i for i in top_indices(bm25_scores, k) if bm25_scores[i] > 0 or not sources]
        chunks = {chunk.id: chunk for chunk, _ in dense}
        cos = {chunk.id: sim for chunk, sim in dense}
        ranked = [[chunk.id for chunk, _ in dense], [self.bm25.ids[i] for i in bm25_top]]
        rrf = reciprocal_rank_fusion(ranked, self.settings.rrf_k)
        missing = [cid for cid in rrf if cid not in chunks]
        if missing:
            chunks.update(self.store.get_chunks(missing))
            for cid, emb in self.store.embeddings(missing).items():
                cos[cid] = float(np.dot(q.vector, emb))
        ids = [cid for cid in rrf if cid in chunks]
        bm25_max = max(float(bm25_scores.max()) if len(bm25_scores) else 0.0, 1e-9)
        sentences = self.score_sentences(q, [chunks[c] for c in ids])
        out = []
        for cid in ids:
            b = float(bm25_scores[self.bm25.position[cid]]) if cid in self.bm25.position else 0.0
            best = max((s.score for s in sentences[cid]), default=0.0)
            out.append(PoolEntry(chunks[cid], cos.get(cid, 0.0), b, b / bm25_max, rrf[cid], max(best, 0.0)))
        return out, sentences

    def unit_vectors(self, chunks: list[Chunk], counts: list[int]) -> np.ndarray:
        """The vectors of every unit of ``chunks``, in order: stored at index time, or (for a
        chunk written while its vectors were not yet, or another way) made now the same way."""
        keys = [text_hash(c.embed_text) for c in chunks]
        stored = self.store.sentence_vectors(keys)
        parts: list[np.ndarray | None] = []
        for key, n in zip(keys, counts, strict=True):
            got = unpack(stored[key], self.encoder.dim) if key in stored else None
            parts.append(got if got is not None and len(got) == n else None)
        missing = [i for i, p in enumerate(parts) if p is None]
        if missing:
            made = embed_units(self.encoder, [chunks[i] for i in missing], self.settings.sentence_vectors, False)[1]
            for i, m in zip(missing, made, strict=True):
                parts[i] = m
        return np.concatenate([p for p in parts if p is not None] or [np.zeros((0, self.encoder.dim))]).astype(
            np.float32
        )

    def score_sentences(self, q: Query, chunks: list[Chunk]) -> SentencesByChunk:
        """Every sentence of every chunk, scored in one batch; each chunk id maps to its sentences."""
        per_chunk = [readings(chunk.text, chunk.headings, chunk.opens) for chunk in chunks]
        units = [(chunk, r.start, r.end, r) for chunk, rs in zip(chunks, per_chunk, strict=True) for r in rs]
        texts = [c.text[a:b] for c, a, b, _ in units]
        qtype = question_type(q.text)
        # The answer type is looked for in the unit itself, not in the headings above it.
        typed = [offers_type(r.own, qtype, q.text) for *_, r in units]
        vectors = self.unit_vectors(chunks, [len(rs) for rs in per_chunk])
        support = self.scorer.support(q.vector, frozenset(q.terms), [r.text for *_, r in units], typed, vectors)
        out: SentencesByChunk = {chunk.id: [] for chunk in chunks}
        for i, ((chunk, a, b, _), text) in enumerate(zip(units, texts, strict=True)):
            out[chunk.id].append(
                ScoredSentence(
                    chunk.source,
                    chunk.start + a,
                    chunk.start + b,
                    text,
                    chunk.id,
                    float(support.score[i]),
                    float(support.dense[i]),
                    float(support.lexical[i]),
                    typed[i],
                )
            )
        return out
