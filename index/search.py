"""Searching an index: dense (FAISS), lexical (BM25 over stems) or both fused.

Hybrid search takes the top candidates of each and fuses their ranks with
reciprocal-rank fusion (RRF), which needs no score calibration between the
two.  MMR, when asked for, then re-orders the fused candidates to avoid
near-duplicate passages.  A passage whose text another, better-ranked one has
already (the same document saved twice, a file and its copy) is left out, so
that k hits are k different texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from index.embeddings import Embedder
from index.errors import QueryError, StoreError
from index.filters import Filters
from index.fusion import RRF_K, rrf
from index.store import IndexStore

__all__ = ["MODES", "Hit", "SearchOptions", "Searcher", "mmr", "rrf"]

MODES = ("hybrid", "dense", "lexical")


@dataclass(frozen=True)
class SearchOptions:
    """How to search: mode, filters, MMR (lambda in [0, 1]; None is off)."""

    mode: str = "hybrid"
    filters: Filters = field(default_factory=Filters)
    mmr: float | None = None
    candidates: int = 50
    rrf_k: int = RRF_K


@dataclass(frozen=True)
class Hit:
    """One search result; ``score`` is the ranking score of the mode used."""

    rank: int
    score: float
    chunk_id: int
    path: str
    title: str
    author: str
    year: int | None
    start: int
    end: int
    text: str
    kind: str = "text"
    dense_score: float | None = None
    lexical_score: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class Searcher:
    """Answers queries against one index with one embedder."""

    def __init__(self, store: IndexStore, embedder: Embedder):
        store.check_embedder(embedder.name, embedder.dim)
        self.store = store
        self.embedder = embedder

    def search(self, query: str, k: int = 5, options: SearchOptions | None = None) -> list[Hit]:
        """The ``k`` best chunks for ``query``."""
        return self.search_many([query], k, options)[0]

    def search_many(self, queries: Sequence[str], k: int = 5,
                    options: SearchOptions | None = None) -> list[list[Hit]]:
        """Search several queries with the same options, embedding them in one batch."""
        options = options or SearchOptions()
        return self.search_batch([(q, options) for q in queries], k)

    def search_batch(self, items: Sequence[tuple[str, SearchOptions]],
                     k: int = 5) -> list[list[Hit]]:
        """Search (query, options) pairs, embedding every query in one batch."""
        for query, options in items:
            if not query.strip():
                raise QueryError("empty query: give words to search for")
            if options.mode not in MODES:
                raise StoreError(f"unknown search mode '{options.mode}'; "
                                 f"use {', '.join(MODES)}")
        needs_vector = [o.mode != "lexical" or o.mmr is not None for _, o in items]
        texts = [q for (q, _), needed in zip(items, needs_vector) if needed]
        vectors = iter(self.embedder.embed_queries(texts))
        results = []
        for (query, options), needed in zip(items, needs_vector):
            vector = next(vectors) if needed else None
            depth = max(k, options.candidates)
            dense = ([] if vector is None or options.mode == "lexical" else
                     self.store.search_dense(vector[None, :], depth, options.filters)[0])
            results.append(self._one(query, vector, dense, k, depth, options))
        return results

    def _one(self, query: str, vector, dense: list[tuple[int, float]], k: int, depth: int,
             options: SearchOptions) -> list[Hit]:
        lexical = ([] if options.mode == "dense"
                   else self.store.search_lexical(query, depth, options.filters))
        ranked = {"dense": dense, "lexical": lexical,
                  "hybrid": rrf([dense, lexical], options.rrf_k)}[options.mode]
        if options.mmr is not None and vector is not None:
            ranked = mmr(ranked, vector, self.store, options.mmr, k)
        return self._hits(ranked, k, dict(dense), dict(lexical))

    def _hits(self, ranked: list[tuple[int, float]], k: int, dense: dict,
              lexical: dict) -> list[Hit]:
        records = self._distinct(ranked, k)
        scores = dict(ranked)
        return [Hit(rank=n, score=round(scores[r.id], 5), chunk_id=r.id, path=r.path,
                    title=r.title, author=r.author, year=r.year, start=r.start, end=r.end,
                    text=r.text, kind=r.kind,
                    dense_score=_round(dense.get(r.id)), lexical_score=_round(lexical.get(r.id)))
                for n, r in enumerate(records, 1)]

    def _distinct(self, ranked: list[tuple[int, float]], k: int) -> list:
        """The first ``k`` chunk records of ``ranked`` whose texts differ (white space
        aside), read a few at a time: duplicates are rare, so one read usually does."""
        records, seen = [], set()
        step = max(2 * k, 1)
        for start in range(0, len(ranked), step):
            for record in self.store.chunks([cid for cid, _ in ranked[start:start + step]]):
                text = " ".join(record.text.split())
                if text not in seen:
                    seen.add(text)
                    records.append(record)
            if len(records) >= k:
                break
        return records[:k]


def mmr(ranked: list[tuple[int, float]], query: np.ndarray, store: IndexStore,
        weight: float, k: int) -> list[tuple[int, float]]:
    """Maximal marginal relevance: trade relevance for novelty among candidates."""
    if len(ranked) <= 1:
        return ranked
    ids = [cid for cid, _ in ranked]
    vectors = store.vectors_of(ids)
    relevance = vectors @ query
    similarity = vectors @ vectors.T
    chosen: list[int] = []
    left = list(range(len(ids)))
    while left and len(chosen) < k:
        redundancy = (similarity[left][:, chosen].max(axis=1) if chosen
                      else np.zeros(len(left)))
        gains = weight * relevance[left] - (1 - weight) * redundancy
        chosen.append(left.pop(int(np.argmax(gains))))
    scores = dict(ranked)
    return [(ids[i], scores[ids[i]]) for i in chosen]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 5)
