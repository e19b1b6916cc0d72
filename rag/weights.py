"""The fitted numbers of the answer path, read from ``rag/weights.json`` (shipped with the package).

Kept out of the code so a refit is a reviewable data change; see each section's ``fitted_by``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any


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
    min_confidence: float
    second_sentence_gain: float


@dataclass(frozen=True)
class Tree:
    """One regression tree, as parallel node arrays; a leaf has ``left == -1`` and holds ``value``."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def __call__(self, x: list[float]) -> float:
        node = 0
        while self.left[node] != -1:
            node = self.left[node] if x[self.feature[node]] <= self.threshold[node] else self.right[node]
        return self.value[node]


@dataclass(frozen=True)
class ConfidenceModel:
    """Small gradient-boosted trees: P(correct) = sigmoid(init + rate * sum of the trees' values).

    Shallow trees (depth 3) let a feature count only where it matters (a missing answer type
    only for a question that asks for one), which a linear model cannot.
    """

    names: tuple[str, ...]
    init: float
    rate: float
    trees: tuple[Tree, ...]

    def __call__(self, values: dict[str, float]) -> float:
        x = [values[n] for n in self.names]
        z = self.init + self.rate * sum(t(x) for t in self.trees)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def many(self, rows: Sequence[dict[str, float]]) -> list[float]:
        """``self(row)`` for every row at once: all trees walked level by level in numpy.

        Rating 30 short-answer candidates one by one walks thousands of trees in Python (a few
        milliseconds); this takes a fraction of one and gives the same numbers.
        """
        import numpy as np

        z = np.array(self.margins(rows))
        return [float(v) for v in 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))]

    def margins(self, rows: Sequence[dict[str, float]]) -> list[float]:
        """The trees' summed score (log-odds, or a ranker's score) of every row, before any sigmoid."""
        import numpy as np

        if not rows:
            return []
        feature, threshold, left, right, value, depth = self._stacked
        n = len(rows)
        x = np.array([[r[name] for r in rows] for name in self.names], dtype=np.float64).ravel()  # feature-major
        trees, width = feature.shape
        first = (np.arange(trees) * width)[:, None]  # each tree's root in the flattened arrays
        cols = np.arange(n)[None, :]
        ff, tf, lf, rf = feature.ravel(), threshold.ravel(), left.ravel(), right.ravel()
        node = np.broadcast_to(first, (trees, n))
        for _ in range(depth):  # flat indices: one gather per array and level
            go_left = x[ff[node] * n + cols] <= tf[node]
            step = first + np.where(go_left, lf[node], rf[node])
            if np.array_equal(step, node):  # every row is at a leaf of every tree
                break
            node = step
        z = self.init + self.rate * value.ravel()[node].sum(axis=0)
        return [float(v) for v in z]

    @cached_property
    def _stacked(self) -> tuple[Any, ...]:
        """The trees as padded 2-D arrays; a leaf points to itself, so extra levels stay on it."""
        import numpy as np

        width = max(len(t.feature) for t in self.trees)
        shape = (len(self.trees), width)
        feature, left, right = (np.zeros(shape, dtype=np.int64) for _ in range(3))
        threshold, value = np.zeros(shape), np.zeros(shape)
        depth = 0
        for i, t in enumerate(self.trees):
            n = len(t.feature)
            own = np.arange(n)
            leaf = np.array(t.left) == -1
            feature[i, :n] = t.feature
            threshold[i, :n] = t.threshold
            left[i, :n] = np.where(leaf, own, t.left)
            right[i, :n] = np.where(leaf, own, t.right)
            value[i, :n] = t.value
            depth = max(depth, _depth(t))
        return feature, threshold, left, right, value, depth

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ConfidenceModel:
        trees = tuple(
            Tree(*(tuple(t[k]) for k in ("feature", "threshold", "left", "right", "value"))) for t in raw["trees"]
        )
        return cls(tuple(raw["features"]), float(raw["init"]), float(raw["rate"]), trees)


def _depth(tree: Tree, node: int = 0) -> int:
    if tree.left[node] == -1:
        return 0
    return 1 + max(_depth(tree, tree.left[node]), _depth(tree, tree.right[node]))


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
        confidence=ConfidenceModel.from_json(raw["confidence"]),
    )
