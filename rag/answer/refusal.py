"""Whether to answer: the one place that decides it, for every answerer.

The sentence-scoring answerer (``rag.answer.answering``) quotes only sentences that may answer
(``may_answer``: support over ``Settings.abstain_threshold``, and a date or number where the
question asks for one), refuses a date or number question whose best evidence holds none
(``type_found``), and refuses when its confidence model's chance that the answer is right is
under ``Settings.min_confidence`` (``by_confidence``). The LLM answerer and multi-part questions
refuse by the verdict of the extractive answer on the same evidence.

The reading answerer (the default) refuses when the chance that the sentence it quotes holds an
acceptable answer is under its bar (``read_verdict``; ``Settings.min_confidence`` overrides the
bar). That chance is the reader's margin of its best span over "no answer"
(``rag.answer.reader.Span.margin``) calibrated by a logistic fitted on SQuAD v1.1 *train* windows
the reader never trained on (``bench/train_reader.py calibrate``, ``calibration.json``). The bar
is chosen end to end, for 5 % false refusal on the fitting set (48 articles of SQuAD v1.1 train)
and its unanswerable twins (``python bench/fit_confidence.py --reader --margin-only --write``,
``refusal.json``). Without ``--margin-only`` the same script fits trees over the margin and the
retrieval evidence for the quoted sentence (``reader_features``); they lowered abstention recall on
the fitting set, out of fold (0.741 against 0.761 at the same false refusal), and a calibration
fitted there would be the reader's view of its own training questions, so neither is shipped
(the ablation is in eval/RESULTS.md, "Span reader").
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
REFUSAL = CALIBRATION.with_name("refusal.json")


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
def fitted_refusal() -> tuple[ConfidenceModel | None, float] | None:
    """The end-to-end bar, with the trees over margin and evidence where they were chosen
    (None: the margin's calibration is the confidence); None where it was never fitted."""
    if not REFUSAL.is_file():
        return None
    data = json.loads(REFUSAL.read_text(encoding="utf-8"))
    return (ConfidenceModel.from_json(data["model"]) if data.get("model") else None), float(data["bar"])


def verdict(margin: float | None, bar: float | None = None) -> Verdict:
    """Answer when the calibrated confidence of the reader's span clears ``bar`` (the fitted one by default)."""
    if margin is None:
        return Verdict(False, 0.0)
    fitted = calibration()
    confidence = fitted(margin)
    return Verdict(confidence >= (fitted.bar if bar is None else bar), confidence)


def reader_features(
    evidence: Evidence, margin: float, sentence: CandidateSentence, names: tuple[str, ...] | None = None
) -> dict[str, float]:
    """What the trees read: the reader's margin, and the evidence features of the quoted sentence
    (computed only when ``names``, the model's features, asks for more than the margin)."""
    if names is not None and set(names) <= {"reader_margin"}:
        return {"reader_margin": margin}
    from rag.answer.confidence import features

    return {"reader_margin": margin, **features(evidence, [sentence])}


def read_verdict(
    evidence: Evidence, margin: float | None, sentence: CandidateSentence | None, bar: float | None = None
) -> Verdict:
    """The reading answerer's verdict on quoting ``sentence``, whose span beat "no answer" by ``margin``."""
    if margin is None or sentence is None:
        return Verdict(False, 0.0)
    fitted = fitted_refusal()
    if fitted is None:
        return verdict(margin, bar)
    model, fitted_bar = fitted
    if model is None:
        confidence = calibration()(margin)
    else:
        confidence = model(reader_features(evidence, margin, sentence, model.names))
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
