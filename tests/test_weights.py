"""The fitted weights: one reviewable file, read by the code and by the settings' defaults."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from rag.settings import get_settings
from rag.weights import fitted

pytestmark = pytest.mark.unit


def test_every_section_says_how_it_was_fitted() -> None:
    raw = json.loads(resources.files("rag").joinpath("weights.json").read_text(encoding="utf-8"))
    sections = {k: v for k, v in raw.items() if isinstance(v, dict)}
    assert set(sections) == {"rerank", "sentence", "selection", "thresholds", "confidence"}
    for name, section in sections.items():
        assert "python bench/" in section["fitted_by"] or "seed_qa" in section["fitted_by"], name


def test_the_code_reads_the_file() -> None:
    w = fitted()
    raw = json.loads(resources.files("rag").joinpath("weights.json").read_text(encoding="utf-8"))
    assert w.rerank.rrf == raw["rerank"]["rrf"] and w.sentence.dense == raw["sentence"]["dense"]
    assert w.confidence.names == tuple(raw["confidence"]["features"]) and w.confidence.init == raw["confidence"]["init"]
    assert w.confidence.trees[0].value == tuple(raw["confidence"]["trees"][0]["value"])
    s = get_settings()
    assert s.abstain_threshold == raw["thresholds"]["abstain"]
    assert s.support_threshold == raw["thresholds"]["support"]
    assert 0 < w.thresholds.min_confidence < 1 and s.min_confidence is None  # unset: each answerer's fitted bar
    assert s.second_sentence_gain == w.thresholds.second_sentence_gain
    assert get_settings(min_confidence=0.0).min_confidence == 0.0


def test_thresholds_still_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_MIN_CONFIDENCE", "0.33")
    assert get_settings().min_confidence == 0.33


def test_rating_many_rows_at_once_gives_what_one_by_one_gives() -> None:
    import random

    from rag.answer.short_answer import model
    from rag.weights import fitted

    rng = random.Random(0)
    for trees in (fitted().confidence, *([model().trees] if model() else [])):
        rows = [
            {n: rng.choice([0.0, 1.0, rng.random() * 10, rng.random() * 40]) for n in trees.names} for _ in range(60)
        ]
        assert trees.many(rows) == pytest.approx([trees(r) for r in rows], abs=1e-12)
    assert fitted().confidence.many([]) == []
