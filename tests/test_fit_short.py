"""bench/fit_short.py: LightGBM's ranking trees, exported, score rows as LightGBM does."""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))


@pytest.mark.unit
def test_exported_ranking_trees_score_as_lightgbm_does() -> None:
    from fit_short import export_lightgbm

    from rag.answer.short_answer import shares
    from rag.weights import ConfidenceModel

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] > 1.0).astype(int)
    model = lightgbm.LGBMRanker(objective="lambdarank", n_estimators=20, num_leaves=7, verbose=-1, n_jobs=1)
    model.fit(x, y, group=[30] * 20)
    names = ("a", "b", "c", "d")
    walked = ConfidenceModel.from_json(export_lightgbm(model.booster_.dump_model(), names))
    rows = [dict(zip(names, map(float, r), strict=True)) for r in x[:40]]
    assert np.allclose(walked.margins(rows), model.predict(x[:40]), atol=1e-5)
    share = shares(np.array(walked.margins(rows[:30])))
    assert share.sum() == pytest.approx(1.0) and share.argmax() == int(np.argmax(model.predict(x[:30])))
