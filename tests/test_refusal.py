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
