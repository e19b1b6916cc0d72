"""Offline question answering over a document corpus, with span-exact citations.

>>> from rag import ask
>>> a = ask("Who is the Chinese Embassy spokesman?", corpus="corpus/")  # doctest: +SKIP

Heavy libraries (torch, chromadb, llama-index) load on first use, not at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.errors import CorpusError, IndexBusyError, InputError, RagError
from rag.settings import Settings
from rag.types import Answer, Chunk, Citation, Document, IndexReport, Passage, SkippedFile

if TYPE_CHECKING:
    from rag.core import ask, build_index, document_text

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "CorpusError",
    "Document",
    "IndexBusyError",
    "IndexReport",
    "InputError",
    "Passage",
    "RagError",
    "Settings",
    "SkippedFile",
    "ask",
    "build_index",
    "document_text",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in {"ask", "build_index", "document_text"}:
        from rag import core

        return getattr(core, name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
