"""Fusing ranked lists into one: reciprocal rank fusion, a pure step (no store, no model).

Each id scores the sum over the lists of ``1 / (k + rank + 1)``; ids keep the order they were first
seen in (the first list's order, then the ones only later lists hold), so fusing is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence


def reciprocal_rank_fusion(ranked: Sequence[Sequence[str]], k: int = 60) -> dict[str, float]:
    """id -> fused score, over ``ranked`` (each list best first); ``k`` damps the top ranks' weight."""
    fused: dict[str, float] = {}
    for ids in ranked:
        for rank, cid in enumerate(ids):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (k + rank + 1)
    return fused
