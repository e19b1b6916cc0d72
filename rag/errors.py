"""Errors that carry a one-line message meant for the user."""

from __future__ import annotations


class RagError(Exception):
    """Base class: ``str(err)`` is a complete sentence for the user, never a traceback."""


class InputError(RagError, ValueError):
    """The question or an argument is not usable (empty, too long, unknown mode...)."""


class CorpusError(RagError):
    """The corpus path is missing or holds no readable document."""


class IndexBusyError(RagError):
    """Another process is writing the same index."""


class LoadError(RagError):
    """One file cannot be loaded; the loader skips it and reports this reason."""


class StoreError(RagError):
    """The vector store cannot be reached or refused a request."""


class ReadOnlyError(RagError):
    """A folder the call must write to (the corpus, the index) is read-only; nothing was changed."""


class NotRemovableError(RagError):
    """A document that is the user's own file, not an upload: rag deletes only what it was given."""
