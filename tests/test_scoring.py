"""The one sentence-support score, shared by the retriever's reranker and the LLM grounding."""

from __future__ import annotations

import numpy as np
import pytest

from rag.answer.grounding import support
from rag.core import get_engine
from rag.language.text import term_set
from rag.retrieve.scoring import SentenceScorer
from rag.types import Chunk, Passage
from rag.weights import SentenceWeights

pytestmark = pytest.mark.integration

SENTENCES = [
    "The United States has supplied an estimated $360 million in arms to Ukraine.",
    "The weather in the harbour was mild for the season.",
    "Ukraine received weapons.",
]


def test_support_mixes_cosine_coverage_and_type_by_the_fitted_weights(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    retriever = get_engine(corpus, settings).retriever
    scorer = retriever.scorer
    q = retriever.query("How much in arms has the United States supplied to Ukraine?")
    plain = scorer.support(q.vector, frozenset(q.terms), SENTENCES)
    assert int(np.argmax(plain.score)) == 0 and int(np.argmin(plain.score)) == 1
    assert plain.lexical[1] == 0.0 and 0 < plain.lexical[2] < plain.lexical[0] <= 1
    w = scorer.weights
    assert np.allclose(plain.score, w.dense * plain.dense + w.lexical * plain.lexical)
    typed = scorer.support(q.vector, frozenset(q.terms), SENTENCES, [True, False, False])
    assert typed.score[0] == pytest.approx(plain.score[0] + w.answer_type)
    assert typed.score[1:] == pytest.approx(plain.score[1:])
    other = SentenceScorer(scorer.encoder, scorer.idf, SentenceWeights(dense=1.0, lexical=0.0, answer_type=0.0))
    assert other.support(q.vector, frozenset(q.terms), SENTENCES).score == pytest.approx(plain.dense)
    assert len(scorer.support(q.vector, frozenset(q.terms), []).score) == 0


def test_grounding_and_reranking_give_a_sentence_the_same_score(indexed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A claim scored against a one-sentence passage by grounding = that sentence scored by the retriever.

    With sentences encoded alone, as grounding encodes them (pooled vectors take the chunk's context).
    """
    corpus, settings = indexed
    encoded = settings.model_copy(update={"sentence_vectors": "encoded", "index_dir": tmp_path / "index"})
    retriever = get_engine(corpus, encoded).retriever
    claim = "Liu Pengyu is the Chinese Embassy spokesman."
    sentence = "Chinese Embassy spokesman Liu Pengyu said China bases its views on the merits."
    chunk = Chunk("c", "d.txt", 0, 100, 100 + len(sentence), sentence)
    grounded, start, end = support(retriever.scorer, claim, Passage(chunk, 1.0))
    assert (start, end) == (100, 100 + len(sentence))
    q = retriever.query(claim)
    ranked = retriever.score_sentences(q, [chunk])["c"]
    assert len(ranked) == 1 and not ranked[0].typed
    assert ranked[0].score == pytest.approx(grounded)
    assert ranked[0].lexical == pytest.approx(
        sum(retriever.bm25.idf(t) for t in term_set(claim) & term_set(sentence))
        / sum(retriever.bm25.idf(t) for t in term_set(claim))
    )
