"""The llama-index adapters inside llama-index's own query engine, with a local mock LLM only."""

from __future__ import annotations

import pytest

from rag.core import document_text

pytestmark = pytest.mark.integration
Q = "Who is the Chinese Embassy spokesman quoted about Ukraine?"


def test_our_retriever_in_llama_indexs_retriever_query_engine(indexed) -> None:  # type: ignore[no-untyped-def]
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine

    from rag.integrations.llama_index import RagRetriever

    corpus, settings = indexed
    retriever = RagRetriever(corpus, settings, top_k=3)
    nodes = retriever.retrieve(Q)
    assert len(nodes) == 3
    for n in nodes:
        text = document_text(n.node.metadata["source"], corpus, settings=settings)
        assert text[n.node.start_char_idx : n.node.end_char_idx] == n.node.get_content()  # exact offsets
    quoted = [q for n in nodes for q in n.node.metadata["quotes"]]
    assert any("Liu Pengyu" in q for q in quoted)

    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM(max_tokens=8))  # never a hosted default
    response = engine.query(Q)
    assert [n.node.node_id for n in response.source_nodes] == [n.node.node_id for n in nodes]
    assert str(response)  # the mock LLM wrote over our passages: the plumbing holds


def test_our_query_engine_returns_citations_as_source_nodes(indexed) -> None:  # type: ignore[no-untyped-def]
    from llama_index.core.base.response.schema import Response

    from rag.integrations.llama_index import RagQueryEngine, RagRetriever

    corpus, settings = indexed
    engine = RagQueryEngine(RagRetriever(corpus, settings))
    response = engine.query(Q)
    assert isinstance(response, Response) and "Liu Pengyu" in str(response)
    assert response.metadata is not None and response.metadata["short"]["text"] == "Liu Pengyu"
    first = response.source_nodes[0].node
    text = document_text(first.metadata["source"], corpus, settings=settings)
    assert text[first.start_char_idx : first.end_char_idx] == first.get_content() and first.metadata["title"]
    assert first.get_content() in str(response)
    unknown = engine.query("What is the capital of Peru?")
    assert unknown.metadata is not None and unknown.metadata["abstained"] and unknown.source_nodes == []
