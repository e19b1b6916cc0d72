"""Whether to answer: the one place that decides it, for every answerer.

The sentence-scoring answerer (``rag.answer.answering``) quotes only sentences that may answer
(``may_answer``: support over ``Settings.abstain_threshold``, and a date or number where the
question asks for one), refuses a date or number question whose best evidence holds none
(``type_found``), and refuses when its confidence model's chance that the answer is right is
under ``Settings.min_confidence`` (``by_confidence``). The LLM answerer and multi-part questions
refuse by the verdict of the extractive answer on the same evidence.

The reading answerer's confidence is the chance that the sentence it quotes holds an acceptable
answer. It is given by small gradient-boosted trees over the reader's margin of its best span
over "no answer" (``rag.answer.reader.Span.margin``) together with the retrieval evidence for the
quoted sentence (``rag.answer.confidence.features``: whether every name and number of the
question is in it and in its passage, how the two retrievers rank its passage, ...). They are
fitted on the fitting set, 48 articles of SQuAD v1.1 *train*, and its unanswerable twins
(``python bench/fit_confidence.py --reader --write``, numbers in
``rag/models/reader/confidence.json``); the answer is refused under the bar fitted there (5 %
false refusal out of fold). Without that file, the margin alone is calibrated by a logistic
fitted on held-out training windows (``bench/train_reader.py calibrate``, ``calibration.json``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rag.types import CandidateSentence, Evidence
from rag.weights import ConfidenceModel, SelectionWeights

CALIBRATION = Path(__file__).resolve().parents[1] / "models" / "reader" / "calibration.json"
MODEL = CALIBRATION.with_name("confidence.json")


@dataclass(frozen=True)
class Verdict:
    answer: bool
    confidence: float  # the calibrated chance that the answer quoted holds an acceptable answer


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


@cache
def evidence_model() -> tuple[ConfidenceModel, float] | None:
    """The trees over margin and evidence, and their bar; None where they were never fitted."""
    if not MODEL.is_file():
        return None
    data = json.loads(MODEL.read_text(encoding="utf-8"))
    return ConfidenceModel.from_json(data["model"]), float(data["bar"])


def verdict(margin: float | None, bar: float | None = None) -> Verdict:
    """Answer when the calibrated confidence of the reader's span clears ``bar`` (the fitted one by default)."""
    if margin is None:
        return Verdict(False, 0.0)
    fitted = calibration()
    confidence = fitted(margin)
    return Verdict(confidence >= (fitted.bar if bar is None else bar), confidence)


def reader_features(evidence: Evidence, margin: float, sentence: CandidateSentence) -> dict[str, float]:
    """What the trees read: the reader's margin, and the evidence features of the quoted sentence."""
    from rag.answer.confidence import features

    return {"reader_margin": margin, **features(evidence, [sentence])}


def read_verdict(
    evidence: Evidence, margin: float | None, sentence: CandidateSentence | None, bar: float | None = None
) -> Verdict:
    """The reading answerer's verdict on quoting ``sentence``, whose span beat "no answer" by ``margin``."""
    if margin is None or sentence is None:
        return Verdict(False, 0.0)
    fitted = evidence_model()
    if fitted is None:
        return verdict(margin, bar)
    model, fitted_bar = fitted
    confidence = model(reader_features(evidence, margin, sentence))
    return Verdict(confidence >= (fitted_bar if bar is None else bar), confidence)


def by_confidence(confidence: float, bar: float) -> Verdict:
    """Answer when the confidence clears ``bar`` (0 turns refusal by confidence off)."""
    return Verdict(confidence >= bar, confidence)


def may_answer(
    candidate: CandidateSentence, question_type: str | None, floor: float, selection: SelectionWeights
) -> bool:
    """Whether a sentence may be quoted: it scores ``floor`` on its own, and a date or number
    question (``selection.gated_types``) is not answered by a sentence without one."""
    if candidate.sentence.score < floor:
        return False
    return question_type not in selection.gated_types or candidate.sentence.typed


def type_found(evidence: Evidence, selection: SelectionWeights) -> bool:
    """False when a date or number question finds no such value near its best evidence (a rule
    kept beside the confidence model, which, fitted on SQuAD, rarely sees counts of things the
    text never counts)."""
    if evidence.question_type not in selection.gated_types or not evidence.candidates:
        return True
    floor = evidence.candidates[0].selection - selection.type_gate_margin
    return any(c.sentence.typed for c in evidence.candidates if c.selection >= floor)
