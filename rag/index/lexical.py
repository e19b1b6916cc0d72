"""BM25 over chunk texts (bm25s with Snowball stemming), persisted beside the vector store."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from rag.language.text import terms

META_FILE = "ids.json"


class BM25Index:
    """A BM25 index whose rows are chunk ids; ``fingerprint`` ties it to one index state."""

    def __init__(self, retriever: object, ids: list[str], fingerprint: str) -> None:
        self._retriever = retriever
        self.ids = ids
        self.fingerprint = fingerprint
        self.position = {cid: i for i, cid in enumerate(ids)}
        vocab: dict[str, int] = getattr(retriever, "vocab_dict", {}) or {}
        indptr = np.asarray(retriever.scores["indptr"])  # type: ignore[attr-defined]
        df = np.diff(indptr)
        n = max(len(ids), 1)
        self._idf = {
            term: math.log(1 + (n - df[col] + 0.5) / (df[col] + 0.5)) for term, col in vocab.items() if col < len(df)
        }
        self._max_idf = math.log(1 + (n + 0.5) / 0.5)

    @classmethod
    def build(cls, ids: list[str], texts: list[str], fingerprint: str) -> BM25Index:
        import bm25s

        tokens = [terms(t) for t in texts]
        if not any(tokens):  # no chunk has a single term: nothing for BM25 to match
            return cls(_Empty(), list(ids), fingerprint)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(retriever, list(ids), fingerprint)

    def save(self, folder: Path) -> None:
        """Write to a temporary folder, then swap it in, so a crash never leaves half an index."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if not isinstance(self._retriever, _Empty):
            self._retriever.save(str(tmp), show_progress=False)  # type: ignore[attr-defined]
        (tmp / META_FILE).write_text(json.dumps({"fingerprint": self.fingerprint, "ids": self.ids}))
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> BM25Index | None:
        """The saved index, or None when it is missing or unreadable (the caller rebuilds it)."""
        try:
            meta = json.loads((folder / META_FILE).read_text())
            ids = list(meta["ids"])
            if (folder / "params.index.json").exists():
                retriever = _Saved.load(folder)
                if int(retriever.scores["num_docs"]) != len(ids):
                    return None  # ids.json cut short or from another index: rows would not match
            else:
                retriever = _Empty()
            if len(set(ids)) != len(ids) or not all(isinstance(i, str) for i in ids):
                return None
            return cls(retriever, ids, str(meta["fingerprint"]))
        except Exception:  # missing, partial or foreign files: rebuild from the store
            return None

    def idf(self, term: str) -> float:
        """Inverse document frequency; unseen terms count as the rarest."""
        return self._idf.get(term, self._max_idf)

    def scores(self, query_terms: list[str]) -> np.ndarray:
        if not self.ids or not query_terms or isinstance(self._retriever, _Empty):
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._retriever.get_scores(query_terms), dtype=np.float32)  # type: ignore[attr-defined]


def top_indices(scores: np.ndarray, k: int) -> list[int]:
    """Positions of the ``k`` best scores, best first; only positive scores (a shared term) count."""
    if not len(scores) or k <= 0:
        return []
    k = min(k, len(scores))
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return [int(i) for i in idx if scores[i] > 0]


class _Saved:
    """A saved bm25s index scored with numpy alone, its arrays memory-mapped.

    Importing bm25s (and the scipy it pulls in) took 0.2 s of a cold question; scoring is only
    this: a query term's column of precomputed scores, added to the documents it holds, once
    per occurrence of the term in the query (as bm25s does for its default, Lucene, variant).
    Other variants (with scores for absent terms) load bm25s itself.
    """

    def __init__(self, vocab: dict[str, int], data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n: int):
        self.vocab_dict = vocab
        self.scores: dict[str, Any] = {"data": data, "indices": indices, "indptr": indptr, "num_docs": n}

    @classmethod
    def load(cls, folder: Path) -> Any:
        params = json.loads((folder / "params.index.json").read_text())
        if params.get("method", "lucene") not in ("lucene", "robertson", "atire"):
            import bm25s

            return bm25s.BM25.load(str(folder), show_progress=False)
        data, indices, indptr = (
            np.load(folder / f"{name}.csc.index.npy", mmap_mode="r") for name in ("data", "indices", "indptr")
        )
        vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        return cls(vocab, data, indices, indptr, int(params["num_docs"]))

    def get_scores(self, tokens: list[str]) -> np.ndarray:
        data, indices, indptr = self.scores["data"], self.scores["indices"], self.scores["indptr"]
        out = np.zeros(int(self.scores["num_docs"]), dtype=np.float32)
        for token in tokens:
            col = self.vocab_dict.get(token)
            if col is not None and col + 1 < len(indptr):
                start, end = int(indptr[col]), int(indptr[col + 1])
                out[indices[start:end]] += data[start:end]  # a document appears once per column
        return out


class _Empty:
    """Stands in for bm25s when no chunk has a single term."""

    def __init__(self) -> None:
        self.vocab_dict: dict[str, int] = {}
        self.scores = {"indptr": np.zeros(1)}
