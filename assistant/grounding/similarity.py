"""Embedding similarity between claims and evidence windows, each text embedded once.

Both sides are embedded as queries: a claim and a source sentence are the
same kind of text, and e5's model card asks for the "query: " prefix on both
sides of a symmetric comparison (the passage prefix is for retrieval).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class Similarity:
    """Cosine similarity with an embedder, remembering every vector it computed."""

    def __init__(self, embedder):
        self.embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}

    def prefetch(self, texts: Iterable[str], batch: int = 256) -> None:
        """Embed the texts not seen yet, in large batches."""
        new = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        for i in range(0, len(new), batch):
            chunk = new[i:i + batch]
            self._vectors.update(zip(chunk, self.embedder.embed_queries(chunk)))

    def cosine(self, a: str, b: str) -> float:
        """The cosine of two texts' (normalised) vectors."""
        self.prefetch([a, b])
        return float(self._vectors[a] @ self._vectors[b])


def as_similarity(embedder) -> Similarity | None:
    """A Similarity for an embedder (kept as is if it is one already); None for None."""
    if embedder is None or isinstance(embedder, Similarity):
        return embedder
    return Similarity(embedder)
