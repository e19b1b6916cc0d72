"""The sentence-transformers model run by onnxruntime, read from the model folder's own files.

``RAG_EMBED_BACKEND=onnx`` (fp32, the default) or ``onnx-int8`` (dynamically quantised weights)
run the model's transformer through onnxruntime. Answering then needs neither torch nor
transformers nor sentence-transformers: the wordpieces come from the folder's
``tokenizer.json`` (the ``tokenizers`` library), the length limit from
``sentence_bert_config.json``, the pooling from ``1_Pooling/config.json``. sentence-transformers
stays the source of the model: the ONNX file is exported from it once, offline, into
``RAG_CACHE_DIR``, and is what every later process loads.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class ModelFolder:
    """What a sentence-transformers folder says about its model, read from its JSON files."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        modules = self._json("modules.json", [])
        self.max_tokens = int(self._json("sentence_bert_config.json", {}).get("max_seq_length", 256))
        pooling_dir = next((m["path"] for m in modules if str(m.get("type", "")).endswith("Pooling")), "1_Pooling")
        pooling = self._json(f"{pooling_dir}/config.json", {})
        self.dim = int(pooling.get("word_embedding_dimension", 384))
        self.mean_pooling = bool(pooling.get("pooling_mode_mean_tokens", True))
        self.other_pooling = any(
            v for k, v in pooling.items() if k.startswith("pooling_mode") and k != "pooling_mode_mean_tokens"
        )
        self.pad_token = str(self._json("tokenizer_config.json", {}).get("pad_token") or "[PAD]")

    def _json(self, name: str, default: Any) -> Any:
        file = self.path / name
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else default


class WordPieces:
    """The model's tokenizer from ``tokenizer.json``: offsets for chunking, batches for the model.

    The same fast tokenizer transformers wraps, without importing transformers.
    """

    def __init__(self, folder: ModelFolder) -> None:
        from tokenizers import Tokenizer

        file = folder.path / "tokenizer.json"
        self._plain = Tokenizer.from_file(str(file))
        self._plain.no_truncation()
        self._plain.no_padding()
        self._model = Tokenizer.from_file(str(file))
        self._model.enable_truncation(folder.max_tokens)
        pad_id = self._model.token_to_id(folder.pad_token)
        self._model.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token=folder.pad_token)

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Start and end character offsets of every wordpiece of ``text`` (no special tokens)."""
        return [(a, b) for a, b in self._plain.encode(text, add_special_tokens=False).offsets if b > a]

    def count(self, text: str) -> int:
        return len(self._plain.encode(text, add_special_tokens=False).ids)

    def batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Model inputs for ``texts``: special tokens, truncated to the model's limit, padded."""
        return self.batch_with_offsets(texts)[0]

    def batch_with_offsets(self, texts: list[str]) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """``batch`` and, per text, each token's character span (0, 0 for special and padding tokens)."""
        encs = self._model.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
        }
        offsets = []
        for e in encs:
            spans = np.array(e.offsets, dtype=np.int64).reshape(-1, 2)
            spans[np.array(e.special_tokens_mask, dtype=bool)] = 0
            offsets.append(spans)
        return feed, offsets


def pool_spans(hidden: np.ndarray, offsets: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """Unit vectors of character ``spans``: the mean of the token states inside each (NaN rows
    for a span with no token, one cut off by the length limit)."""
    out = np.full((len(spans), hidden.shape[-1]), np.nan, dtype=np.float32)
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts
    for i, (a, b) in enumerate(spans):
        inside = real & (starts < b) & (ends > a)
        if inside.any():
            v = hidden[inside].mean(axis=0)
            out[i] = v / max(float(np.linalg.norm(v)), 1e-12)
    return out


def _tokenize(st_model: Any, texts: list[str]) -> dict[str, Any]:
    """The model's own tokenisation (``preprocess``; ``tokenize`` in older sentence-transformers)."""
    prepare = getattr(st_model, "preprocess", None) or st_model.tokenize
    return dict(prepare(texts))


def export_path(model_path: str, cache_dir: Path, int8: bool) -> Path:
    """Where the export of ``model_path`` lives: keyed by the folder and its weights file's size."""
    weights = sorted(Path(model_path).glob("*.safetensors")) + sorted(Path(model_path).glob("*.bin"))
    stamp = "".join(f"{w.name}:{w.stat().st_size}" for w in weights)
    key = hashlib.sha1(f"{Path(model_path).resolve()}|{stamp}".encode()).hexdigest()[:12]
    return cache_dir / "onnx" / key / ("model-int8.onnx" if int8 else "model-fp32.onnx")


def export(load: Callable[[], Any], dest: Path, int8: bool) -> Path:
    """Export the transformer of the SentenceTransformer ``load()`` gives (and quantise it for int8).

    The model is loaded (torch) only when the fp32 export is missing, and dropped after.
    """
    fp32 = dest.with_name("model-fp32.onnx")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not fp32.exists():
        from rag.offline import TORCH_IMPORT

        with TORCH_IMPORT:  # not while spaCy's import has torch blocked on another thread
            import torch

        st_model = load()

        class Wrapped(torch.nn.Module):  # keyword arguments: forward's positional order varies
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
                return out[0]

        transformer = Wrapped(st_model[0].auto_model).eval()
        batch = _tokenize(st_model, ["an example sentence for the export", "another one"])
        args = tuple(batch[name] for name in INPUTS)
        tmp = fp32.with_suffix(f".{os.getpid()}.tmp")
        dynamic = {0: "batch", 1: "tokens"}
        import warnings

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # exporter notes about opsets and tracing, not errors
            torch.onnx.export(
                transformer,
                args,
                str(tmp),
                input_names=list(INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes={**{name: dynamic for name in INPUTS}, "last_hidden_state": dynamic},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, fp32)  # complete or absent: a killed export is redone
    if int8 and not dest.exists():
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = dest.with_suffix(f".{os.getpid()}.tmp")
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # quantize_dynamic logs advice about pre-processing at WARNING
        try:
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        os.replace(tmp, dest)
    return dest


class OnnxTransformer:
    """The exported model in an onnxruntime session, fed by ``WordPieces``, mean-pooled, unit length."""

    def __init__(self, path: Path, pieces: WordPieces, dim: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.pieces = pieces
        self.dim = dim
        self.names = {i.name for i in self.session.get_inputs()}

    def encode(
        self, texts: list[str], batch_size: int, spans: list[list[tuple[int, int]]] | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of ``texts`` and, when ``spans`` are given, of those character spans of each
        text, pooled from the same forward pass (``pool_spans``)."""
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths pad less
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        pooled_spans: list[np.ndarray] = [np.zeros((0, self.dim), dtype=np.float32)] * len(texts)
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            batch, offsets = self.pieces.batch_with_offsets([texts[j] for j in idx])
            feed = {name: batch[name] for name in INPUTS if name in self.names}
            hidden = self.session.run(None, feed)[0]
            mask = batch["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            if spans is not None:
                for row, j in enumerate(idx):
                    pooled_spans[j] = pool_spans(hidden[row], offsets[row], spans[j])
        return out, pooled_spans
