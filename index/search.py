"""Searching an index: embed the query, look up FAISS, read the chunks."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from index.embeddings import Embedder
from index.store import IndexStore


@dataclass(frozen=True)
class Hit:
    """One search result."""

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

    def to_dict(self) -> dict:
        return asdict(self)


class Searcher:
    """Answers queries against one index with one embedder."""

    def __init__(self, store: IndexStore, embedder: Embedder):
        store.check_embedder(embedder.name, embedder.dim)
        self.store = store
        self.embedder = embedder

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` chunks closest to ``query``, best first."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: list[str], k: int = 5) -> list[list[Hit]]:
        """Search several queries with one embedding batch."""
        vectors = self.embedder.embed_queries(queries)
        results = []
        for pairs in self.store.search_dense(vectors, k):
            records = self.store.chunks([cid for cid, _ in pairs])
            scores = dict(pairs)
            results.append([Hit(rank=n, score=round(scores[r.id], 4), chunk_id=r.id, path=r.path,
                                title=r.title, author=r.author, year=r.year, start=r.start,
                                end=r.end, text=r.text)
                            for n, r in enumerate(records, 1)])
        return results
