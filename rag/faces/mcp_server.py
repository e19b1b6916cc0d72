"""``rag mcp``: the corpus as Model Context Protocol tools over stdio (the official ``mcp`` SDK).

Tools, each a thin call into the same core as the CLI and the chat:

- ``ask(question)``: the answer with its verified citations, short answer and confidence;
- ``search(query, top_k)``: the passages retrieval finds, each with its exact span;
- ``read(source, start, end, context)``: a span of a document with the text around it, to check
  a citation or read on.

stdout carries the protocol; notices and progress go to stderr.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rag.errors import InputError, RagError
from rag.settings import Settings

MAX_READ_CHARS = 20_000
F = TypeVar("F", bound=Callable[..., Any])


def _told(tool: F) -> F:
    """Our one-line errors reach the assistant as the tool's error text (the SDK hides others)."""
    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(tool)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return tool(*args, **kwargs)
        except RagError as err:
            raise ToolError(str(err)) from None

    return run  # type: ignore[return-value]


def build_server(corpus: Path, settings: Settings) -> Any:
    """The MCP server for ``corpus`` (not started)."""
    from mcp.server.mcpserver import MCPServer

    from rag.core import ask as core_ask
    from rag.core import document_text, get_engine
    from rag.core import search as core_search
    from rag.faces.options import call_options, mcp_signature
    from rag.faces.present import answer_json, passage_json

    server = MCPServer(
        "rag",
        log_level="WARNING",
        instructions="Answers questions from the user's documents. Every answer quotes the documents verbatim "
        "with exact character spans; 'abstained' means the documents do not say. Use read() to see a span in context.",
    )

    def title_of(source: str) -> str:
        return get_engine(corpus, settings).title(source)

    @server.tool()
    @mcp_signature  # the question and every remote ask option (rag.request.ASK_OPTIONS)
    @_told
    def ask(question: str, **options: Any) -> dict[str, Any]:
        """Answer a question from the documents, quoting the exact passages it rests on.

        ``history``: the conversation's earlier questions, oldest first, so a follow-up such as
        "What did he say?" is read as being about who they named."""
        answer = core_ask(question, corpus=corpus, settings=settings, **call_options(options))
        return answer_json(answer, title_of)

    @server.tool()
    @_told
    def search(query: str, top_k: int = 5) -> dict[str, Any]:
        """The passages of the documents that best match a query, with their exact character spans."""
        evidence = core_search(query, corpus=corpus, settings=settings, top_k=top_k)
        passages = [passage_json(p, title_of) for p in evidence.passages[:top_k]]
        return {"query": evidence.query, "passages": passages}

    @server.tool()
    @_told
    def read(source: str, start: int = 0, end: int | None = None, context: int = 300) -> dict[str, Any]:
        """A span of a document (its characters start..end, as citations give them) with context around it.

        Only documents the index holds are read, and span plus context stay within the limit."""
        if source not in get_engine(corpus, settings).current_manifest().documents:
            raise InputError(f"no readable document {source!r} in the index (read takes the sources citations give)")
        text = document_text(source, corpus, settings=settings)
        end = min(len(text), start + MAX_READ_CHARS) if end is None else end
        if not 0 <= start <= end <= len(text):
            raise InputError(f"span {start}..{end} is outside {source} ({len(text)} characters)")
        if end - start > MAX_READ_CHARS:
            raise InputError(f"span of {end - start} characters is over the {MAX_READ_CHARS} character limit")
        around = min(max(context, 0), (MAX_READ_CHARS - (end - start)) // 2)  # the whole reply within the limit
        a, b = max(0, start - around), min(len(text), end + around)
        return {
            "source": source,
            "title": title_of(source),
            "start": start,
            "end": end,
            "text": text[start:end],
            "before": text[a:start],
            "after": text[end:b],
        }

    return server
