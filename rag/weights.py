"""The fitted numbers of the answer path, read from ``rag/weights.json`` (shipped with the package).

Kept out of the code so a refit is a reviewable data change; see each section's ``fitted_by``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class RerankWeights:
    """Hybrid reranking: linear weights of a pooled chunk's features."""

    chunk_dense: float
    chunk_bm25: float
    best_sentence: float
    rrf: float


@dataclass(frozen=True)
class SentenceWeights:
    """Sentence support: dense cosine, idf-weighted term coverage, answer-type bonus."""

    dense: float
    lexical: float
    answer_type: float


@dataclass(frozen=True)
class SelectionWeights:
    """Extractive sentence selection: passage prior and the answer-type gate for near misses."""

    passage_prior: float
    gated_types: tuple[str, ...]
    type_gate_margin: float


@dataclass(frozen=True)
class Thresholds:
    abstain: float
    support: float
    confidence_5pct_false_refusal: float


@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic regression on standardised features: P(correct) = sigmoid(b + sum w * (x - mean) / scale)."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def __call__(self, values: dict[str, float]) -> float:
        z = self.intercept + sum(
            w * (values[n] - m) / s for n, m, s, w in zip(self.names, self.mean, self.scale, self.coef, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@dataclass(frozen=True)
class Weights:
    rerank: RerankWeights
    sentence: SentenceWeights
    selection: SelectionWeights
    thresholds: Thresholds
    confidence: ConfidenceModel


def _section(raw: dict[str, object], cls: type) -> object:
    values = {k: v for k, v in raw.items() if k != "fitted_by"}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


@lru_cache(maxsize=1)
def fitted() -> Weights:
    """The weights file, parsed once per process."""
    raw = json.loads(resources.files("rag").joinpath("weights.json").read_text(encoding="utf-8"))
    return Weights(
        rerank=_section(raw["rerank"], RerankWeights),  # type: ignore[arg-type]
        sentence=_section(raw["sentence"], SentenceWeights),  # type: ignore[arg-type]
        selection=_section(raw["selection"], SelectionWeights),  # type: ignore[arg-type]
        thresholds=_section(raw["thresholds"], Thresholds),  # type: ignore[arg-type]
        confidence=ConfidenceModel(
            names=tuple(raw["confidence"]["features"]),
            mean=tuple(raw["confidence"]["mean"]),
            scale=tuple(raw["confidence"]["scale"]),
            coef=tuple(raw["confidence"]["coef"]),
            intercept=float(raw["confidence"]["intercept"]),
        ),
    )
