"""Indexing a folder: find files, skip the unchanged, chunk, embed, store.

Each file is committed on its own, so an interrupted run keeps every file it
finished and the next run picks up the rest.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from index.chunking import chunk_text
from index.embeddings import Embedder
from index.errors import ReaderError
from index.readers import Document, Skip, check_supported, parse_documents, read_bytes
from index.store import DocumentChunks, FileState, IndexStore

Progress = Callable[[int, int, int], None]  # files done, files total, chunks added


@dataclass
class IngestOptions:
    """How documents are cut and which files are read."""

    chunk_tokens: int = 200
    chunk_overlap: int = 40
    max_file_bytes: int = 50 * 2**20


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
        known = {p: s for p, s in store.files().items() if _under(p, root)}
        candidates = sorted(_walk(root, report))
        for done, path in enumerate(candidates, 1):
            _index_one(path, known.pop(str(path), None), store, embedder, options, report)
            if progress:
                progress(done, len(candidates), report.chunks)
        for gone in known:
            store.remove_file(gone)
            report.removed += 1
        store.save()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _check_root(root: Path) -> Path:
    root = root.expanduser()
    if not root.exists():
        raise ReaderError(f"no such file or folder: {root}")
    if not os.access(root, os.R_OK):
        raise ReaderError(f"cannot read {root}: permission denied")
    return root.resolve()


def _under(path: str, root: Path) -> bool:
    return path == str(root) or path.startswith(str(root).rstrip(os.sep) + os.sep)


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


def _index_one(path: Path, known: FileState | None, store: IndexStore, embedder: Embedder,
               options: IngestOptions, report: IngestReport) -> None:
    try:
        check_supported(path)
        stat = path.stat()
        if known and known.size == stat.st_size and known.mtime == stat.st_mtime:
            report.unchanged += 1
            return
        data = read_bytes(path, options.max_file_bytes)
        state = FileState(str(path), len(data), stat.st_mtime, hashlib.sha256(data).hexdigest())
        if known and known.sha256 == state.sha256:
            store.touch_file(state)
            report.unchanged += 1
            return
        docs = parse_documents(path, data)
    except Skip as why:
        _skip(report, path, str(why))
        return
    except OSError as exc:
        _skip(report, path, f"unreadable ({exc.strerror or exc})")
        return
    report.chunks += store.replace_file(state, [_prepare(d, embedder, options) for d in docs])
    if known:
        report.updated += 1
    else:
        report.added += 1


def _prepare(doc: Document, embedder: Embedder, options: IngestOptions) -> DocumentChunks:
    chunks = chunk_text(doc.text, embedder.count_tokens, options.chunk_tokens, options.chunk_overlap)
    vectors = embedder.embed_passages([c.text for c in chunks])
    return DocumentChunks(part=doc.part, title=doc.title, author=doc.author, year=doc.year,
                          spans=[(c.start, c.end, c.text) for c in chunks], vectors=vectors)


def _skip(report: IngestReport, path, reason: str) -> None:
    report.skipped.append({"path": str(path), "reason": reason})
