"""Reciprocal rank fusion: a pure step over ranked lists."""

from __future__ import annotations

import pytest

from rag.retrieve.fusion import reciprocal_rank_fusion

pytestmark = pytest.mark.unit


def test_an_id_both_lists_hold_outranks_ids_only_one_holds() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d"]], k=60)
    assert list(fused) == ["a", "b", "c", "d"]  # first-seen order: deterministic
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert max(fused, key=fused.__getitem__) == "c"
    assert fused["a"] == pytest.approx(1 / 61) and fused["d"] == pytest.approx(1 / 62)


def test_k_damps_the_weight_of_the_top_ranks() -> None:
    sharp = reciprocal_rank_fusion([["a", "b"]], k=0)
    flat = reciprocal_rank_fusion([["a", "b"]], k=1000)
    assert sharp["a"] / sharp["b"] == pytest.approx(2.0)
    assert flat["a"] / flat["b"] == pytest.approx(1002 / 1001)
    assert reciprocal_rank_fusion([], k=60) == {} and reciprocal_rank_fusion([[]]) == {}
