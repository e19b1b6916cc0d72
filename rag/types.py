"""Core value types: a document, its chunks, what retrieval found, and the answer built on it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """A loaded document. ``source`` is its path relative to the corpus root (or its .jsonl id)."""

    source: str
    text: str
    title: str = ""


@dataclass(frozen=True)
class Chunk:
    """A span of a document small enough for the encoder; ``text == document.text[start:end]``."""

    id: str
    source: str
    index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with the scores that ranked it."""

    chunk: Chunk
    score: float
    dense: float | None = None
    bm25: float | None = None


@dataclass(frozen=True)
class Citation:
    """An exact span of a source document: ``document_text(source)[start:end] == quote``."""

    source: str
    start: int
    end: int
    quote: str
    score: float
    chunk_id: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class Answer:
    """What ``ask`` returns. ``text`` carries markers ``[n]`` that point at ``citations[n-1]``."""

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    mode: str = "hybrid"
    query: str = ""
    unsupported_sentences: tuple[str, ...] = ()
    answerer: str = "extractive"
    notice: str = ""
    generated_sentences: int = 0

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "text": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
        }
        if self.answerer != "extractive":
            out.update(answerer=self.answerer, unsupported_sentences=list(self.unsupported_sentences))
        if self.notice:
            out["notice"] = self.notice
        return out


@dataclass(frozen=True)
class SkippedFile:
    """A file the loader could not use, and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.source}: {self.reason}"


@dataclass(frozen=True)
class IndexReport:
    """What an indexing run did, by document source."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()
    repaired: int = 0
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    def summary(self) -> str:
        parts = [
            f"added {len(self.added)}",
            f"updated {len(self.updated)}",
            f"removed {len(self.removed)}",
            f"unchanged {len(self.unchanged)}",
            f"skipped {len(self.skipped)}",
        ]
        line = ", ".join(parts) + f" ({self.chunks} chunks in the index)"
        if self.embedded or self.reused:
            line += f"; embedded {self.embedded} chunks, reused {self.reused} unchanged vectors"
        if self.repaired:
            line += f"; repaired {self.repaired} chunks left by an interrupted run"
        return line
