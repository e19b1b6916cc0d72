"""Whether to answer: the one place that decides it.

The reader's margin of its best span over "no answer" (``rag.answer.reader.Span.margin``) becomes a
probability that the span answers the question, by a logistic fitted on SQuAD v1.1 *train*
windows the reader never trained on (``bench/train_reader.py calibrate``; numbers in
``rag/models/reader/calibration.json``). The answer is refused under ``Settings.min_reader_confidence``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CALIBRATION = Path(__file__).resolve().parents[1] / "models" / "reader" / "calibration.json"


@dataclass(frozen=True)
class Verdict:
    answer: bool
    confidence: float  # the calibrated chance that the reader's span answers the question


@dataclass(frozen=True)
class Calibration:
    slope: float
    intercept: float
    bar: float  # the confidence under which the answer is refused

    def __call__(self, margin: float) -> float:
        return 1.0 / (1.0 + math.exp(-(self.slope * margin + self.intercept)))


@cache
def calibration() -> Calibration:
    data = json.loads(CALIBRATION.read_text(encoding="utf-8"))
    return Calibration(float(data["slope"]), float(data["intercept"]), float(data["bar"]))


def verdict(margin: float | None, bar: float | None = None) -> Verdict:
    """Answer when the calibrated confidence of the reader's span clears ``bar`` (the fitted one by default)."""
    if margin is None:
        return Verdict(False, 0.0)
    fitted = calibration()
    confidence = fitted(margin)
    return Verdict(confidence >= (fitted.bar if bar is None else bar), confidence)
