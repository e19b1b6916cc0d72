"""An ONNX Runtime copy of the sentence-transformers model, exported offline from its folder.

``RAG_EMBED_BACKEND=onnx`` (fp32) or ``onnx-int8`` (dynamically quantised weights) run the same
transformer through onnxruntime instead of torch. The export happens once, from the local model
folder, into ``RAG_CACHE_DIR``; nothing is downloaded. Mean pooling and normalisation match the
bundled model's own (MiniLM: mean over the attention mask, then L2).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


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


def export(st_model: Any, dest: Path, int8: bool) -> Path:
    """Export the transformer inside a loaded SentenceTransformer (and quantise it for int8)."""
    import torch

    fp32 = dest.with_name("model-fp32.onnx")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not fp32.exists():

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
    """Runs the exported model on batches tokenised by the SentenceTransformer's own tokenizer."""

    def __init__(self, st_model: Any, path: Path, dim: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.st = st_model
        self.dim = dim
        self.names = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths pad less
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            batch = _tokenize(self.st, [texts[j] for j in idx])
            feed = {name: batch[name].numpy().astype(np.int64) for name in INPUTS if name in self.names}
            hidden = self.session.run(None, feed)[0]
            mask = feed["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out
