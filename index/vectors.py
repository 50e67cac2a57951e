"""Vector search over chunk ids with FAISS, behind a small interface.

The catalog (SQLite) owns the vectors; this module holds the searchable copy.
Exact inner product is used while it is fast; past ``IVF_THRESHOLD`` vectors
the index becomes an inverted file (IVF), which supports removal and is
searched with enough probes to keep recall@10 close to exact.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

# Measured with bench/faiss_scaling.py on e5 vectors (2 cores): exact search takes
# 4 ms at 50k vectors, 15 ms at 100k, 30 ms at 200k.  Past 100k an IVF index with
# sqrt(n) lists.  Grown from the whole RusLit index (72k real vectors), probing 40%
# of the lists kept 97.6% of the exact top-10 at 100k and 95.7% at 200k; about 60%
# kept 99.7% and 99.0% (more than 99% of the list at 43%), so 60% it is.
IVF_THRESHOLD = 100_000
IVF_PROBE_SHARE = 0.6


class FaissIndex:
    """A FAISS index keyed by chunk id."""

    def __init__(self, index):
        self.index = index

    @classmethod
    def build(cls, dim: int, batches: Iterable[tuple[np.ndarray, np.ndarray]],
              count: int) -> FaissIndex:
        """An index over ``count`` vectors given as (ids, vectors) batches."""
        import faiss

        if count < IVF_THRESHOLD:
            built = cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))
            for ids, vectors in batches:
                built.add(ids, vectors)
            return built
        return cls._build_ivf(dim, list(batches), count)

    @classmethod
    def _build_ivf(cls, dim: int, batches: list[tuple[np.ndarray, np.ndarray]],
                   count: int) -> FaissIndex:
        import faiss

        lists = int(np.sqrt(count))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        sample = np.concatenate([v for _, v in batches])[:: max(1, count // (lists * 50))]
        index.train(sample)
        _set_probes(index)
        built = cls(index)
        for ids, vectors in batches:
            built.add(ids, vectors)
        return built

    @classmethod
    def load(cls, path: Path) -> FaissIndex | None:
        """A saved index, or None if it is missing or unreadable."""
        import faiss

        if not path.is_file():
            return None
        try:
            index = faiss.read_index(str(path))
        except RuntimeError:
            return None
        if hasattr(index, "nprobe"):
            _set_probes(index)
        return cls(index)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def kind(self) -> str:
        return "ivf" if hasattr(self.index, "nprobe") else "flat"

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        import faiss

        self.index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))

    def search(self, queries: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> list[list[tuple[int, float]]]:
        """Top-k (id, inner product) per query, optionally only among ``allowed`` ids."""
        import faiss

        if self.size == 0 or (allowed is not None and len(allowed) == 0):
            return [[] for _ in range(len(queries))]
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            params = (faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nprobe)
                      if self.kind == "ivf" else faiss.SearchParameters(sel=selector))
        k = min(k, self.size)
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k,
                                        params=params)
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                for row_ids, row_scores in zip(ids, scores)]

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the new one, never half."""
        import faiss

        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)


def _set_probes(index) -> None:
    index.nprobe = max(1, int(index.nlist * IVF_PROBE_SHARE))
