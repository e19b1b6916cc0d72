"""Offline question answering over a document corpus, with span-exact citations.

>>> from rag import ask
>>> a = ask("Who is the Chinese Embassy spokesman?", corpus="corpus/")  # doctest: +SKIP

Importing the package makes every library it uses offline and telemetry-free (``rag.offline``);
heavy libraries (onnxruntime, chromadb, llama-index) load on first use, not at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.offline import set_offline_env

set_offline_env()  # the one place: before any library that reads these variables is imported

from rag.errors import CorpusError, IndexBusyError, InputError, RagError  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.types import Answer, Chunk, Citation, Document, Evidence, IndexReport, Passage, SkippedFile  # noqa: E402

if TYPE_CHECKING:
    from rag.core import ask, ask_stream, build_index, document_text, search

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "CorpusError",
    "Document",
    "Evidence",
    "IndexBusyError",
    "IndexReport",
    "InputError",
    "Passage",
    "RagError",
    "Settings",
    "SkippedFile",
    "ask",
    "ask_stream",
    "build_index",
    "document_text",
    "search",
]
__version__ = "0.1.0"

_CORE = {"ask", "ask_stream", "build_index", "document_text", "search"}


def __getattr__(name: str) -> Any:
    if name in _CORE:
        from rag import core

        return getattr(core, name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
