"""llama-index adapters: our retrieval and answers as a ``BaseRetriever`` and a query engine.

``RagRetriever`` returns the passages ``ask`` draws from as nodes whose ``start_char_idx`` and
``end_char_idx`` are exact offsets into ``document_text(source)``; a passage holding a verified
quote of the answer carries it in ``metadata["quotes"]``. It drops into llama-index's own
``RetrieverQueryEngine`` (give it an LLM explicitly: llama-index otherwise reaches for a hosted
default). ``RagQueryEngine`` answers with our extractive answerer and returns a llama-index
``Response`` whose ``source_nodes`` are the citations, each node one verified quote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Unpack

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.request import AskOptions
from rag.settings import Settings
from rag.types import Answer, Citation


class RagRetriever(BaseRetriever):
    """The passages our hybrid retrieval finds, as llama-index nodes with exact offsets."""

    def __init__(
        self,
        corpus: str | Path | None = None,
        settings: Settings | None = None,
        callback_manager: CallbackManager | None = None,
        **options: Unpack[AskOptions],
    ) -> None:
        """``options`` are ``ask``'s (``top_k``, ``mode``, ``sources``, …: ``rag.request.ASK_OPTIONS``)."""
        super().__init__(callback_manager=callback_manager)
        self.corpus, self.settings, self.options = corpus, settings, options

    def answer(self, question: str) -> Answer:
        from rag.core import ask

        return ask(question, corpus=self.corpus, settings=self.settings, **self.options)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        answer = self.answer(query_bundle.query_str)
        out = []
        for p in answer.evidence.shown:
            c = p.chunk
            quotes = [q.quote for q in answer.citations if q.source == c.source and c.start <= q.start < c.end]
            node = TextNode(
                id_=c.id,
                text=c.text,
                start_char_idx=c.start,
                end_char_idx=c.end,
                metadata={"source": c.source, "quotes": quotes},
                excluded_embed_metadata_keys=["quotes"],
                excluded_llm_metadata_keys=["quotes"],
            )
            out.append(NodeWithScore(node=node, score=p.score))
        return out


def citation_node(c: Citation, title: str = "") -> NodeWithScore:
    """One verified quote as a node: its text is the quote, its offsets the quote's."""
    node = TextNode(
        id_=f"{c.source}:{c.start}-{c.end}",
        text=c.quote,
        start_char_idx=c.start,
        end_char_idx=c.end,
        metadata={"source": c.source, "title": title, "page": c.page},
    )
    return NodeWithScore(node=node, score=c.score)


class RagQueryEngine(BaseQueryEngine):
    """A query engine answering with our extractive answerer; ``source_nodes`` are its citations."""

    def __init__(self, retriever: RagRetriever, callback_manager: CallbackManager | None = None) -> None:
        self.retriever = retriever
        super().__init__(callback_manager=callback_manager)

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def _query(self, query_bundle: QueryBundle) -> Response:
        from rag.core import get_engine
        from rag.faces.present import answer_json

        answer = self.retriever.answer(query_bundle.query_str)
        engine = get_engine(self.retriever.corpus, self.retriever.settings)
        nodes = [citation_node(c, engine.title(c.source)) for c in answer.citations]
        # the answer's JSON, as the CLI, the HTTP API and MCP return it
        return Response(response=answer.text, source_nodes=nodes, metadata=answer_json(answer, engine.title))

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        import asyncio

        return await asyncio.to_thread(self._query, query_bundle)
