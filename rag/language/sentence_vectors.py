"""Sentence vectors made at index time, so a question never encodes corpus text.

The answerer scores every quotable unit (``rag.language.units.readings``) of ~40 candidate chunks
against the question. Encoding them at question time cost 0.5-1 s on a cold question. They are
now made when a chunk is embedded and stored beside it, keyed like its vector by the hash of
the chunk's text, so re-indexing reuses them.

Two ways to make them (``RAG_SENTENCE_VECTORS``):

- ``pooled`` (the default): the mean of the chunk's own token states over the unit's
  characters, from the forward pass that embeds the chunk: no extra encoder time; the
  confidence model is fitted on these (eval/RESULTS.md, "Sentence vectors");
- ``encoded``: each unit's reading encoded on its own, as the answerer did before: one more
  encoder pass over the corpus. A unit's vector then does not depend on the text around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from rag.language.embedding import Encoder
from rag.language.units import readings
from rag.types import Chunk

SentenceVectors = Literal["pooled", "encoded"]
MODES: tuple[str, ...] = ("pooled", "encoded")
UNITS_VERSION = 5  # bump when ``rag.language.units.readings`` cuts or reads units differently: remade once
# (2: a chunk that starts inside a code block reads it as code; 3: a sentence runs on across a page break;
# 4: a caption line is a label, not a sentence)


def reading_texts(chunk: Chunk) -> list[str]:
    """The texts the scorer compares with the question, one per quotable unit of ``chunk``."""
    return [r.text for r in readings(chunk.text, chunk.headings, chunk.opens)]


def embed(
    encoder: Encoder, chunks: Sequence[Chunk], mode: str, chunks_too: bool = True
) -> tuple[np.ndarray | None, list[np.ndarray]]:
    """The vectors of ``chunks`` and, per chunk, the vectors of its units (in ``readings`` order).

    Without ``chunks_too`` (a chunk whose own vector is stored) the ``encoded`` way skips the
    chunk pass and gives None for the chunk vectors; ``pooled`` needs that pass anyway."""
    texts = [c.embed_text for c in chunks]
    units = [readings(c.text, c.headings, c.opens) for c in chunks]
    if mode == "pooled":
        shift = [len(c.embed_text) - len(c.text) for c in chunks]  # the section path before the text
        spans = [[(d + r.start, d + r.end) for r in rs] for d, rs in zip(shift, units, strict=True)]
        vectors, per_chunk = encoder.encode_spans(texts, spans)
        cut = [(i, j) for i, m in enumerate(per_chunk) for j in range(len(m)) if np.isnan(m[j, 0])]
        if cut:  # units past the length limit: encoded alone
            alone = encoder.encode([units[i][j].text for i, j in cut])
            for (i, j), v in zip(cut, alone, strict=True):
                per_chunk[i][j] = v
        return vectors, per_chunk
    encoded = encoder.encode(texts) if chunks_too else None
    flat = encoder.encode([r.text for rs in units for r in rs])
    per_chunk, at = [], 0
    for rs in units:
        per_chunk.append(flat[at : at + len(rs)])
        at += len(rs)
    return encoded, per_chunk


def pack(vectors: np.ndarray) -> bytes:
    """A chunk's unit vectors as the store keeps them: float16, row after row."""
    return np.asarray(vectors, dtype=np.float16).tobytes()


def unpack(blob: bytes, dim: int) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float16).reshape(-1, dim).astype(np.float32)
