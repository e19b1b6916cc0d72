"""Core value types, in the order a question meets them: documents and chunks, retrieved passages,
scored sentences, the evidence for one question, and the answer built on it."""

from __future__ import annotations

import re
from dataclasses import dataclass


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
    headings: tuple[tuple[int, str], ...] = ()  # (level, title) of the sections it starts in
    opens: str = ""  # the block it starts inside (``rag.language.units.Unit.opens``): a code fence, a comment

    @property
    def section(self) -> str:
        """The heading path the chunk starts under, ``Memo > Team``; empty for unstructured text."""
        return " > ".join(title for _, title in self.headings)

    @property
    def embed_text(self) -> str:
        """What is embedded and BM25-indexed: the section path, then the text (cited verbatim)."""
        return f"{self.section}\n{self.text}" if self.headings else self.text


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with the scores that ranked it."""

    chunk: Chunk
    score: float
    dense: float | None = None
    bm25: float | None = None


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a retrieved chunk, in document offsets, with how well it supports the query.

    ``score`` is the one sentence-support score (``rag.retrieve.scoring``) over the features beside it:
    cosine to the query (``dense``), idf-weighted share of the query's terms it holds
    (``lexical``), and whether it offers an answer of the type the question asks for (``typed``).
    """

    source: str
    start: int
    end: int
    text: str
    chunk_id: str
    score: float
    dense: float
    lexical: float
    typed: bool = False


@dataclass(frozen=True)
class CandidateSentence:
    """A sentence an answer may quote: its support plus the prior of the passage it came from."""

    sentence: ScoredSentence
    selection: float
    passage_rank: int


@dataclass(frozen=True)
class Evidence:
    """Everything one question needs, computed once: what every answerer reads.

    ``passages`` are all retrieved passages, best first (the related ones shown on an
    abstention); the answer is drawn from the first ``top_k``. ``candidates`` are the sentences
    of those, each span once, best first by selection score.
    """

    question: str
    query: str
    mode: str
    top_k: int
    passages: tuple[Passage, ...] = ()
    candidates: tuple[CandidateSentence, ...] = ()
    question_type: str | None = None
    passage_coverage: tuple[float, ...] = ()  # idf-weighted share of the query's terms in each shown passage
    passage_missing: tuple[float, ...] = ()  # idf of the rarest query term each shown passage lacks, over the rarest's

    @property
    def shown(self) -> tuple[Passage, ...]:
        """The passages the answer is drawn from (and, for an LLM, the ones it is shown)."""
        return self.passages[: self.top_k]


@dataclass(frozen=True)
class Citation:
    """An exact span of a source document: ``document_text(source)[start:end] == quote``."""

    source: str
    start: int
    end: int
    quote: str
    score: float
    chunk_id: str = ""
    page: int | None = None  # of a PDF, counted from 1

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "score": round(self.score, 4),
        }
        if self.page is not None:
            out["page"] = self.page
        return out


@dataclass(frozen=True)
class ShortAnswer:
    """The phrase that answers the question, inside ``Answer.citations[citation]``.

    ``document_text(source)[start:end] == text``; ``confidence`` is the estimated chance that the
    phrase is exactly the answer (``rag.answer.short_answer``: its share among the quote's candidates,
    calibrated out of fold).
    """

    text: str
    source: str
    start: int
    end: int
    confidence: float
    citation: int  # index into Answer.citations

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "confidence": round(self.confidence, 4),
            "citation": self.citation + 1,
        }


@dataclass(frozen=True)
class Answer:
    """What ``ask`` returns. ``text`` carries markers ``[n]`` that point at ``citations[n-1]``.

    ``evidence`` is what the answer was built from (question, query, passages, scored
    sentences); ``question``, ``query``, ``mode`` and ``passages`` read through to it.
    ``confidence`` is the estimated probability that the answer is right (it contains an
    acceptable answer and cites it); an abstention carries that of the answer it held back.
    """

    text: str
    abstained: bool
    citations: tuple[Citation, ...]
    evidence: Evidence
    answerer: str = "extractive"
    notice: str = ""
    unsupported_sentences: tuple[str, ...] = ()
    generated_sentences: int = 0
    confidence: float = 0.0
    short: ShortAnswer | None = None  # the phrase that answers, when one is rated high enough
    # A question of several parts (rag.answer.parts): each part's phrase in order, None where a part has
    # none; ``short`` stays None (no one phrase answers it all).
    part_shorts: tuple[ShortAnswer | None, ...] = ()

    @property
    def phrases(self) -> tuple[ShortAnswer | None, ...]:
        """The short answer, or each part's (``part_shorts``); empty when there is none."""
        if self.short is not None:
            return (self.short,)
        return self.part_shorts

    @property
    def question(self) -> str:
        return self.evidence.question

    @property
    def query(self) -> str:
        return self.evidence.query

    @property
    def mode(self) -> str:
        return self.evidence.mode

    @property
    def passages(self) -> tuple[Passage, ...]:
        return self.evidence.passages

    def related(self, n: int = 3) -> list[tuple[Passage, ScoredSentence | None]]:
        """The first ``n`` passages, each with its sentence that best supports the question (None
        when retrieval scored none of its sentences): what a refusal shows, where the passage is
        closest to answering rather than from its start."""
        best: dict[str, ScoredSentence] = {}
        for c in self.evidence.candidates:  # best first
            best.setdefault(c.sentence.chunk_id, c.sentence)
        return [(p, best.get(p.chunk.id)) for p in self.passages[:n]]

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "text": self.text,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "short": self.short.to_dict() if self.short else None,
            "citations": [c.to_dict() for c in self.citations],
        }
        if self.part_shorts:
            out["part_shorts"] = [s.to_dict() if s else None for s in self.part_shorts]
        if self.answerer != "extractive":
            out.update(answerer=self.answerer, unsupported_sentences=list(self.unsupported_sentences))
        if self.notice:
            out["notice"] = self.notice
        if self.abstained:  # what the text promises: the related passages, which are not an answer
            out["related"] = [
                {
                    "source": p.chunk.source,
                    "start": p.chunk.start,
                    "end": p.chunk.end,
                    "text": p.chunk.text,
                    "closest": {"start": s.start, "end": s.end, "text": s.text} if s is not None else None,
                }
                for p, s in self.related()
            ]
        return out


CONTROL_CHARS = re.compile("[\x00-\x1f\x7f]")  # also what makes a file name unusable (rag.ingest.loaders)


def printable(name: str) -> str:
    """``name`` safe to print on one line: undecodable bytes and control characters escaped."""
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return CONTROL_CHARS.sub(lambda m: f"\\x{ord(m.group(0)):02x}", name)


@dataclass(frozen=True)
class SkippedFile:
    """A file the loader could not use, and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {printable(self.source)}: {self.reason}"


@dataclass(frozen=True)
class IndexReport:
    """What an indexing run did, by document source."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()
    repaired: int = 0
    upgraded_from: int = 0  # the index format this run upgraded, if any
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    units_made: int = 0  # chunks whose sentence vectors an older index lacked, made once

    def to_dict(self) -> dict[str, object]:
        """The report for ``rag index --json``: every list in full, and the counts."""
        return {
            "added": list(self.added),
            "updated": list(self.updated),
            "removed": list(self.removed),
            "unchanged": len(self.unchanged),
            "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
            "chunks": self.chunks,
            "embedded": self.embedded,
            "reused": self.reused,
            "repaired": self.repaired,
            "upgraded_from": self.upgraded_from,
            "units_made": self.units_made,
        }

    def upgrade_notice(self) -> str:
        """The one-time changes an older index went through on this run ("" when none)."""
        notes = []
        if self.upgraded_from:
            notes.append(f"upgraded the index from format {self.upgraded_from} (chunks re-keyed, vectors reused)")
        if self.units_made:
            notes.append(f"made the sentence vectors of {self.units_made} chunks once (the index predates them)")
        return "; ".join(notes)

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
        if self.units_made or self.upgraded_from:
            line += f"; {self.upgrade_notice()}"
        return line
