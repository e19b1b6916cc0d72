"""Serving the HTTP and MCP servers; every face (the chat too) gets ready by ``rag.core.ready_to_serve``.

A face is checked first (a server its logins would leave half open is refused before any
indexing), then the corpus is indexed if it changed and the engine warmed, so the first question
answers as fast as the next, then the face serves until it is stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.settings import Settings


def serve_http(corpus: Path, settings: Settings, host: str, port: int, say: Callable[[str], None], **app: Any) -> None:
    """``rag serve``: the FastAPI app (``app``: ``create_app``'s options) under uvicorn, blocking."""
    import uvicorn

    from rag.faces.server import create_app

    built = create_app(corpus, settings, host=host, **app)  # refused here, before any indexing
    from rag.core import ready_to_serve

    say(f"rag: {ready_to_serve(corpus, settings)}")
    say(f"rag: serving {corpus} on http://{host}:{port} (API docs at /docs)")
    uvicorn.run(built, host=host, port=port, log_level="warning")


def serve_mcp(corpus: Path, settings: Settings) -> None:
    """``rag mcp``: index quietly (stdout is the protocol) and serve over stdio until the client closes."""
    from rag.core import ready_to_serve
    from rag.faces.mcp_server import build_server

    ready_to_serve(corpus, settings)
    build_server(corpus, settings).run("stdio")
