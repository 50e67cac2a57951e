"""Retrieval quality from ranked hits: the gold document's rank, recall@k and MRR.

Search returns chunks, and a long document is several chunks; a question's
gold is a document.  Hits are therefore collapsed to documents first, each at
the rank of its best chunk, so that two chunks of one wrong document do not
push the gold one down and two chunks of the gold one do not count twice.
"""

from __future__ import annotations

from collections.abc import Sequence


def ranked_documents(hit_documents: Sequence[str], depth: int) -> list[str]:
    """The first ``depth`` distinct documents of ranked hits, in order."""
    return list(dict.fromkeys(hit_documents))[:depth]


def gold_rank(documents: Sequence[str], gold: str) -> int | None:
    """The 1-based rank of ``gold`` among ranked documents, None when it is not there."""
    return documents.index(gold) + 1 if gold in documents else None


def recall_at(ranks: Sequence[int | None], k: int) -> float:
    """The share of questions whose gold document is within the first ``k``."""
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float:
    """The mean of 1/rank, a miss counting 0 (MRR at the depth searched)."""
    return sum(1 / r for r in ranks if r is not None) / len(ranks) if ranks else 0.0


def recall_curve(ranks: Sequence[int | None], depth: int) -> dict[int, float]:
    """recall@k for every k from 1 to ``depth``."""
    return {k: recall_at(ranks, k) for k in range(1, depth + 1)}
