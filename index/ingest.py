"""Indexing a folder: find files, skip the unchanged, chunk, embed, store.

Changed files are chunked and gathered into batches of about
``batch_chunks`` chunks, embedded together (the embedder is far faster on
full batches than file by file) and committed together, so an interrupted
run keeps every batch it finished and the next run picks up the rest.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index.chunking import Chunk, chunk_text
from index.embeddings import Embedder
from index.errors import ReaderError
from index.paths import stored_path
from index.readers import LAYOUTS, Document, Skip, check_supported, parse_documents, read_bytes
from index.store import DocumentChunks, FileState, IndexStore

Progress = Callable[[int, int, int], None]  # files done, files total, chunks added


@dataclass
class IngestOptions:
    """How documents are cut and which files are read."""

    chunk_tokens: int = 200
    chunk_overlap: int = 40
    max_file_bytes: int = 50 * 2**20  # a file on disk, and what an archive unpacks to (index.archives)
    layout: str = "auto"  # how plain text is laid out: "auto" or "ruslit" (see index.readers)
    batch_chunks: int = 256

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ReaderError(f"unknown layout '{self.layout}'; use {' or '.join(LAYOUTS)}")


@dataclass
class _Pending:
    """A changed file, read and chunked, waiting for its batch to be embedded."""

    state: FileState
    is_update: bool
    documents: list[tuple[Document, list[Chunk]]]

    @property
    def chunk_count(self) -> int:
        return sum(len(chunks) for _, chunks in self.documents)


@dataclass
class IngestReport:
    """What one indexing run did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def index_path(root: Path, store: IndexStore, embedder: Embedder,
               options: IngestOptions | None = None,
               progress: Progress | None = None) -> IngestReport:
    """Bring ``store`` in line with the files under ``root`` (a folder or a file)."""
    options = options or IngestOptions()
    root = _check_root(root)
    started = time.perf_counter()
    report = IngestReport()
    with store.write_lock():
        store.check_embedder(embedder.name, embedder.dim)
        known = {p: s for p, s in store.files().items() if _under(p, stored_path(root))}
        candidates = sorted(_walk(root, report))
        batch: list[_Pending] = []
        for done, path in enumerate(candidates, 1):
            pending = _examine(path, known.pop(stored_path(path), None), store, embedder, options, report)
            if pending:
                batch.append(pending)
                if sum(p.chunk_count for p in batch) >= options.batch_chunks:
                    _store_batch(batch, store, embedder, report)
                    batch = []
            if progress:
                progress(done, len(candidates), report.chunks)
        _store_batch(batch, store, embedder, report)
        for gone in known:
            store.remove_file(gone)
            report.removed += 1
        store.save()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _check_root(root: Path) -> Path:
    root = root.expanduser()
    if not root.exists():
        raise ReaderError(f"no such file or folder: {stored_path(root)}")
    if not os.access(root, os.R_OK):
        raise ReaderError(f"cannot read {stored_path(root)}: permission denied")
    return root.resolve()


def _under(path: str, root: str) -> bool:
    """Whether the stored ``path`` is ``root`` (stored too) or lies under it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk(root: Path, report: IngestReport) -> Iterator[Path]:
    """Regular files under root; links are not followed, so loops cannot trap us."""
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root, onerror=lambda e: _skip(report, e.filename, "unreadable folder")):
        for name in [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            _skip(report, Path(folder) / name, "symbolic link (not followed)")
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not os.path.islink(os.path.join(folder, d)))
        for name in files:
            path = Path(folder) / name
            if name.startswith("."):
                continue
            if path.is_symlink():
                _skip(report, path, "symbolic link (not followed)")
                continue
            yield path


def _examine(path: Path, known: FileState | None, store: IndexStore, embedder: Embedder,
             options: IngestOptions, report: IngestReport) -> _Pending | None:
    """Read and chunk a file that changed; count and skip everything else."""
    try:
        check_supported(path)
        stat = path.stat()
        if known and known.size == stat.st_size and known.mtime == stat.st_mtime:
            report.unchanged += 1
            return None
        data = read_bytes(path, options.max_file_bytes)
        state = FileState(stored_path(path), len(data), stat.st_mtime, hashlib.sha256(data).hexdigest())
        if known and known.sha256 == state.sha256:
            store.touch_file(state)
            report.unchanged += 1
            return None
        docs = parse_documents(path, data, options.layout, options.max_file_bytes)
    except Skip as why:
        _skip(report, path, str(why))
        return None
    except OSError as exc:
        _skip(report, path, f"unreadable ({exc.strerror or exc})")
        return None
    chunked = [(doc, chunk_text(doc.text, embedder.count_tokens, options.chunk_tokens,
                                options.chunk_overlap)) for doc in docs]
    return _Pending(state, known is not None, chunked)


def _store_batch(batch: list[_Pending], store: IndexStore, embedder: Embedder,
                 report: IngestReport) -> None:
    """Embed every chunk of the batch in one call and commit the files together."""
    if not batch:
        return
    texts = [c.text for p in batch for _, chunks in p.documents for c in chunks]
    vectors = iter(embedder.embed_passages(texts))
    files = [(p.state, [_with_vectors(doc, chunks, vectors) for doc, chunks in p.documents])
             for p in batch]
    report.chunks += store.replace_files(files)
    report.updated += sum(p.is_update for p in batch)
    report.added += sum(not p.is_update for p in batch)


def _with_vectors(doc: Document, chunks: list[Chunk], vectors: Iterator) -> DocumentChunks:
    import numpy as np

    taken = [next(vectors) for _ in chunks]
    matrix = np.stack(taken) if taken else np.zeros((0, 1), dtype=np.float32)
    return DocumentChunks(part=doc.part, title=doc.title, author=doc.author, year=doc.year,
                          kind=doc.kind, spans=[(c.start, c.end, c.text) for c in chunks],
                          vectors=matrix)


def _skip(report: IngestReport, path, reason: str) -> None:
    report.skipped.append({"path": stored_path(path), "reason": reason})
