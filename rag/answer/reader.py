"""The span reader: our fine-tuned MiniLM, run by onnxruntime, finds the phrase that answers.

It reads a question against a text in windows (the question, then up to ``LENGTH`` wordpieces,
neighbouring windows sharing ``OVERLAP``), exactly as it was trained (``bench/train_reader.py``),
and scores every span of up to ``MAX_SPAN`` wordpieces by its start and end logits. The [CLS]
position is its "no answer here" score: ``Span.margin`` is how far the best span beats it.

The model ships as package data (``rag/models/reader/``, with its card); it is loaded once, lazily,
on first use. Its wordpieces are the shipped embedding model's own (``tokenizer.json``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MODEL = Path(__file__).resolve().parents[1] / "models" / "reader" / "reader-int8.onnx"
LENGTH = 128
QUESTION = 32
OVERLAP = 48
MAX_SPAN = 30
BATCH = 16


@dataclass(frozen=True)
class Span:
    """The best answer span of one text: character offsets into that text, with its scores."""

    text_index: int  # which of the texts read
    start: int
    end: int
    score: float  # start logit + end logit
    null: float  # the "no answer" score of the same text (its lowest over the text's windows)

    @property
    def margin(self) -> float:
        return self.score - self.null


class SpanReader:
    """Loaded lazily; one per process is enough (``reader()``)."""

    def __init__(self, model: Path | None = None) -> None:
        self.path = Path(model) if model else MODEL
        self._session: Any = None
        self._pieces: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            from rag.language.embedding import default_model_path

            if not self.path.is_file():
                raise FileNotFoundError(f"the reader model is missing: {self.path.name} (reinstall the package)")
            pieces = Tokenizer.from_file(str(Path(default_model_path()) / "tokenizer.json"))
            pieces.no_truncation()
            pieces.no_padding()
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = os.cpu_count() or 1
            self._session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
            self._pieces = pieces

    def windows(self, question: str, text: str) -> list[tuple[list[int], list[int], list[tuple[int, int]]]]:
        """(ids, token types, character offsets per position) of each window of ``text``."""
        self._load()
        cls, sep = self._pieces.token_to_id("[CLS]"), self._pieces.token_to_id("[SEP]")
        q = self._pieces.encode(question, add_special_tokens=False).ids[:QUESTION]
        t = self._pieces.encode(text, add_special_tokens=False)
        room = LENGTH - len(q) - 3
        ids, offs = t.ids, t.offsets
        out = []
        start = 0
        while True:
            part = ids[start : start + room]
            head = [cls, *q, sep]
            window_ids = [*head, *part, sep]
            types = [0] * len(head) + [1] * (len(part) + 1)
            offsets = [(-1, -1)] * len(head) + list(offs[start : start + room]) + [(-1, -1)]
            out.append((window_ids, types, offsets))
            if start + room >= len(ids):
                return out
            start += room - OVERLAP

    def read(self, question: str, texts: Sequence[str]) -> list[Span | None]:
        """The best span of each text (None for an empty one), in one batched pass."""
        flat: list[tuple[int, list[int], list[int], list[tuple[int, int]]]] = []
        for i, text in enumerate(texts):
            if text.strip():
                flat += [(i, *w) for w in self.windows(question, text)]
        best: dict[int, Span] = {}
        nulls: dict[int, float] = {}
        for lo in range(0, len(flat), BATCH):
            group = flat[lo : lo + BATCH]
            width = max(len(w[1]) for w in group)
            ids = np.zeros((len(group), width), dtype=np.int64)
            types = np.zeros_like(ids)
            mask = np.zeros_like(ids)
            for k, (_, wid, wtype, _) in enumerate(group):
                ids[k, : len(wid)], types[k, : len(wid)], mask[k, : len(wid)] = wid, wtype, 1
            starts, ends = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
            for k, (i, _, wtype, offsets) in enumerate(group):
                null = float(starts[k, 0] + ends[k, 0])
                nulls[i] = min(nulls.get(i, null), null)
                span = best_span(starts[k], ends[k], wtype, offsets)
                if span and (i not in best or span[2] > best[i].score):
                    best[i] = Span(i, span[0], span[1], span[2], 0.0)
        return [
            Span(i, best[i].start, best[i].end, best[i].score, nulls[i]) if i in best else None
            for i in range(len(texts))
        ]

    def best(self, question: str, text: str) -> Span | None:
        return self.read(question, [text])[0]


def best_span(
    starts: np.ndarray, ends: np.ndarray, types: list[int], offsets: list[tuple[int, int]]
) -> tuple[int, int, float] | None:
    """Character start, end and score of the window's best text span of at most ``MAX_SPAN`` pieces."""
    text = [k for k, (t, o) in enumerate(zip(types, offsets, strict=True)) if t == 1 and o[1] > o[0]]
    if not text:
        return None
    lo, hi = text[0], text[-1] + 1
    s, e = starts[lo:hi], ends[lo:hi]
    grid = s[:, None] + e[None, :]
    n = hi - lo
    band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), MAX_SPAN)
    grid = np.where(band, grid, -np.inf)
    a, b = np.unravel_index(int(np.argmax(grid)), grid.shape)
    return offsets[lo + a][0], offsets[lo + b][1], float(grid[a, b])


_READER: SpanReader | None = None


def reader() -> SpanReader:
    """The process's one reader of the packaged model."""
    global _READER
    if _READER is None:
        _READER = SpanReader()
    return _READER
