"""The one refusal decision: the reader's margin, calibrated, against the fitted bar."""

from __future__ import annotations

import json

from rag.answer.refusal import CALIBRATION, calibration, verdict


def test_nothing_read_is_refused_with_no_confidence() -> None:
    assert verdict(None).answer is False
    assert verdict(None).confidence == 0.0


def test_confidence_rises_with_the_margin_and_the_bar_decides() -> None:
    fitted = calibration()
    low, high = verdict(-8.0), verdict(8.0)
    assert 0.0 <= low.confidence < high.confidence <= 1.0
    assert high.answer and not low.answer
    middle = verdict(0.0)
    assert middle.answer == (middle.confidence >= fitted.bar)
    assert verdict(0.0, bar=1.0).answer is False
    assert verdict(0.0, bar=0.0).answer is True


def test_the_calibration_says_how_it_was_fitted_and_on_what() -> None:
    data = json.loads(CALIBRATION.read_text(encoding="utf-8"))
    assert "train" in data["fitted_by"]
    assert 0.0 < data["bar"] < 1.0
    assert data["slope"] > 0


def test_the_reading_answerers_bar_was_chosen_end_to_end_on_squad_train() -> None:
    from rag.answer.reader import MODEL
    from rag.answer.refusal import REFUSAL, fitted_refusal

    data = json.loads(REFUSAL.read_text(encoding="utf-8"))
    assert "train" in data["fitted_by"] and "--reader" in data["fitted_by"]
    fitted = fitted_refusal()
    assert fitted is not None
    model, bar = fitted
    assert model is None and 0.0 < bar < 1.0 and bar == data["bar"]  # the margin's calibration, its own bar
    # the bar belongs to the reader it was chosen for: a retrained reader needs it chosen again
    import hashlib

    assert hashlib.sha1(MODEL.read_bytes()).hexdigest()[:12] == data["reader_sha1"]


def test_read_verdict_is_the_calibrated_margin_against_the_end_to_end_bar() -> None:
    from rag.answer.refusal import fitted_refusal, read_verdict

    fitted = fitted_refusal()
    assert fitted is not None
    _, bar = fitted
    evidence, sentence = object(), object()  # with the margin alone, neither is read
    for margin in (-6.0, -1.0, 0.0, 2.0, 6.0):
        v = read_verdict(evidence, margin, sentence)  # type: ignore[arg-type]
        assert v.confidence == calibration()(margin) and v.answer == (v.confidence >= bar)
    assert read_verdict(evidence, None, sentence).answer is False  # type: ignore[arg-type]
    assert read_verdict(evidence, 6.0, None).answer is False  # type: ignore[arg-type]  # nothing to quote
    assert read_verdict(evidence, 6.0, sentence, bar=1.0).answer is False  # type: ignore[arg-type]  # a user's bar
    assert read_verdict(evidence, -6.0, sentence, bar=0.0).answer is True  # type: ignore[arg-type]


def test_by_confidence_answers_at_the_bar_and_zero_turns_it_off() -> None:
    from rag.answer.refusal import by_confidence

    assert by_confidence(0.5, 0.5).answer and not by_confidence(0.49, 0.5).answer
    assert by_confidence(0.0, 0.0).answer
