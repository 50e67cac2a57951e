"""Reciprocal-rank fusion (RRF) of ranked lists, and what a fused score means to a reader.

A fused score is a sum of 1 / (k + rank) over the lists that found the
passage; its raw value (about 0.03 with k = 60) says nothing to a reader, so
``fused_relevance`` rescales it by the best score possible.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60  # the usual constant: ranks deep in a list still count, but little


def rrf(rankings: Sequence[Sequence[tuple[int, float]]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of ranked (id, score) lists: sum of 1 / (k + rank)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (cid, _) in enumerate(ranking, 1):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def fused_relevance(score: float, lists: int = 2, k: int = RRF_K) -> float:
    """An RRF ``score`` of ``lists`` fused rankings as a share of the best possible, in [0, 1].

    1.0: first in every list (hybrid search: first by meaning and by words);
    about 0.5: first in one list and not found by the other; it falls slowly
    with rank (rank 10 in both lists: 0.87).  It is monotone in the fused
    score, hence in the fused rank, but relative to the query: not a
    probability that the passage is relevant.
    """
    best = lists / (k + 1)
    return max(0.0, min(1.0, score / best))
