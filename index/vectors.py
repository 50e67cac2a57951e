"""Vector search over chunk ids with FAISS, behind a small interface.

The catalog (SQLite) owns the vectors; this module holds the searchable copy.
Exact inner product is used while it is fast; past ``IVF_THRESHOLD`` vectors
the index becomes an inverted file (IVF), which supports removal and is
searched with enough probes to keep recall@10 close to exact.
"""

from __future__ import annotations

import os
import struct
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
    def load(cls, path: Path, dim: int, count: int) -> FaissIndex | None:
        """A saved index of ``count`` vectors of ``dim``, or None if it is missing,
        unreadable or holds anything else (the caller rebuilds it from the catalog).

        The header is checked against ``dim``, ``count`` and the file's size before
        FAISS reads it: FAISS allocates whatever sizes the file declares.
        """
        import faiss

        if not path.is_file():
            return None
        try:
            with path.open("rb") as f:
                if not _cache_fits(f, os.fstat(f.fileno()).st_size, dim, count):
                    return None
            index = faiss.read_index(str(path))
        except (OSError, RuntimeError):
            return None
        if index.d != dim or index.ntotal != count:
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


# Every FAISS index starts with: fourcc, d (int32), ntotal (int64), two unused int64,
# is_trained (bool) and the metric (int32; inner product is 0 and has no argument).
_HEADER = struct.Struct("<4siqqq?i")
_U64 = struct.Struct("<Q")


def _cache_fits(f, size: int, dim: int, count: int) -> bool:
    """Whether the saved index in ``f`` (``size`` bytes) is one this module writes,
    holding ``count`` vectors of ``dim`` with every declared size matching the file."""
    try:
        fourcc, d, ntotal = _header(f)
        if d != dim or ntotal != count:
            return False
        if fourcc == b"IxM2":  # IndexIDMap2 over IndexFlatIP
            if _flat_codes(f, dim) != count:
                return False
            f.seek(4 * dim * count, os.SEEK_CUR)
            return _u64(f) == count and f.tell() + 8 * count == size
        if fourcc == b"IwFl":  # IndexIVFFlat
            return _ivf_fits(f, size, dim, count)
    except (struct.error, ValueError):
        pass
    return False


def _header(f) -> tuple[bytes, int, int]:
    fourcc, d, ntotal, _, _, _, metric = _HEADER.unpack(f.read(_HEADER.size))
    if metric != 0:
        raise ValueError("not an inner-product index")
    return fourcc, d, ntotal


def _u64(f) -> int:
    return _U64.unpack(f.read(8))[0]


def _flat_codes(f, dim: int) -> int:
    """Read an IndexFlatIP's header and its code count; returns its ntotal, -1 if wrong."""
    fourcc, d, ntotal = _header(f)
    if fourcc != b"IxFI" or d != dim or _u64(f) != ntotal * dim:
        return -1
    return ntotal


def _ivf_fits(f, size: int, dim: int, count: int) -> bool:
    nlist, _nprobe = _u64(f), _u64(f)
    if not 0 < 4 * dim * nlist <= size or _flat_codes(f, dim) != nlist:
        return False
    f.seek(4 * dim * nlist, os.SEEK_CUR)
    if f.read(1) != b"\0" or _u64(f) != 0:  # no direct map
        return False
    if f.read(4) != b"ilar" or _u64(f) != nlist or _u64(f) != 4 * dim:
        return False
    layout, entries = f.read(4), _u64(f)
    if (layout, entries) != (b"full", nlist) and not (layout == b"sprs" and entries <= 2 * nlist
                                                       and entries % 2 == 0):
        return False
    if f.tell() + 8 * entries > size:
        return False
    sizes = struct.unpack(f"<{entries}Q", f.read(8 * entries))
    listed = sum(sizes if layout == b"full" else sizes[1::2])
    return listed == count and f.tell() + count * (4 * dim + 8) == size


def _set_probes(index) -> None:
    index.nprobe = max(1, int(index.nlist * IVF_PROBE_SHARE))
