"""Indexing a folder: find files, skip the unchanged, chunk, embed, store.

Changed files are chunked and gathered into batches of about
``batch_chunks`` chunks, embedded together (the embedder is far faster on
full batches than file by file) and committed together, so an interrupted
run keeps every batch it finished and the next run picks up the rest. A
file of more than a batch is embedded and committed a batch at a time, and a
run that stopped inside it resumes after its last committed chunk.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from index.chunking import Chunk, chunk_text
from index.embeddings import Embedder
from index.errors import ReaderError
from index.paths import stored_path
from index.readers import LAYOUTS, Document, Skip, check_supported, parse_documents, read_bytes
from index.store import PARTIAL, DocumentChunks, FileState, IndexStore

Progress = Callable[[int, int, int], None]  # files done, files total, chunks added


@dataclass
class IngestOptions:
    """How documents are cut and which files are read."""

    chunk_tokens: int = 200
    chunk_overlap: int = 40
    max_file_bytes: int = 50 * 2**20  # a file on disk, and what an archive unpacks to (index.archives)
    layout: str = "auto"  # how plain text is laid out: "auto" or "ruslit" (see index.readers)
    batch_chunks: int = 256
    # Extracted text per document: 5x the longest book of RusLit (Братья Карамазовы, 1.8 M
    # characters). Text past it is not indexed (the run says so).
    max_text_chars: int = 10_000_000

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ReaderError(f"unknown layout '{self.layout}'; use {' or '.join(LAYOUTS)}")


@dataclass
class _Pending:
    """A changed file, read and chunked, waiting for its batch to be embedded."""

    state: FileState
    is_update: bool
    documents: list[tuple[Document, list[Chunk]]]  # on resume, the chunks not yet stored
    resume: bool = False  # an earlier run stored some of this file's chunks (FileState.partial)

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
    truncated: list[dict[str, str]] = field(default_factory=list)  # indexed in part: path, reason
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
            if pending and (pending.resume or pending.chunk_count > options.batch_chunks):
                _store_batch(batch, store, embedder, report)
                batch = []
                tick = partial(progress, done - 1, len(candidates)) if progress else None
                _store_in_parts(pending, store, embedder, options.batch_chunks, report, tick)
            elif pending:
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
        if known and not known.partial and known.size == stat.st_size and known.mtime == stat.st_mtime:
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
                                options.chunk_overlap)) for doc in _limited(docs, path, options, report)]
    if known and known.sha256 == PARTIAL + state.sha256:
        remaining = _remaining(chunked, store.stored_spans(state.path))
        if remaining is not None:
            return _Pending(state, True, remaining, resume=True)
    return _Pending(state, known is not None, chunked)


def _limited(docs: list[Document], path: Path, options: IngestOptions,
             report: IngestReport) -> list[Document]:
    """``docs`` with any text past ``max_text_chars`` cut off, at a line or a space."""
    limit = options.max_text_chars
    for doc in docs:
        if len(doc.text) > limit:
            cut = doc.text.rfind("\n", limit // 2, limit)
            cut = cut if cut > 0 else doc.text.rfind(" ", limit // 2, limit)
            doc.text = doc.text[:cut if cut > 0 else limit]
            report.truncated.append({"path": stored_path(path), "reason": (
                f"text longer than max_text_chars ({limit:,}): indexed the first "
                f"{len(doc.text):,} characters" + (f" of part {doc.part}" if len(docs) > 1 else ""))})
    return docs


def _remaining(chunked: list[tuple[Document, list[Chunk]]],
               stored: dict[int, list[tuple[int, int]]]) -> list[tuple[Document, list[Chunk]]] | None:
    """The chunks an interrupted run did not store, or None when what it stored is not a
    prefix of today's chunking (other chunk settings, say): then the file starts over."""
    if not set(stored) <= {doc.part for doc, _ in chunked}:
        return None
    remaining = []
    for doc, chunks in chunked:
        done = stored.get(doc.part, [])
        if [(c.start, c.end) for c in chunks[:len(done)]] != done:
            return None
        remaining.append((doc, chunks[len(done):]))
    return remaining


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


def _store_in_parts(pending: _Pending, store: IndexStore, embedder: Embedder, size: int,
                    report: IngestReport, tick: Callable[[int], None] | None) -> None:
    """Embed and commit a large file ``size`` chunks at a time (IndexStore.write_file_part)."""
    parts = list(_parts(pending.documents, size)) or [[]]  # resumed with nothing left: finish it
    for n, part in enumerate(parts):
        vectors = iter(embedder.embed_passages([c.text for _, chunks in part for c in chunks]))
        documents = [_with_vectors(doc, chunks, vectors) for doc, chunks in part]
        report.chunks += store.write_file_part(pending.state, documents,
                                               first=n == 0 and not pending.resume,
                                               last=n == len(parts) - 1)
        if tick:
            tick(report.chunks)
    report.updated += pending.is_update
    report.added += not pending.is_update


def _parts(documents: list[tuple[Document, list[Chunk]]],
           size: int) -> Iterator[list[tuple[Document, list[Chunk]]]]:
    """The documents' chunks in runs of ``size``, each run grouped by document."""
    flat = [(doc, chunk) for doc, chunks in documents for chunk in chunks]
    for start in range(0, len(flat), size):
        run: list[tuple[Document, list[Chunk]]] = []
        for doc, chunk in flat[start:start + size]:
            if run and run[-1][0] is doc:
                run[-1][1].append(chunk)
            else:
                run.append((doc, [chunk]))
        yield run


def _with_vectors(doc: Document, chunks: list[Chunk], vectors: Iterator) -> DocumentChunks:
    import numpy as np

    taken = [next(vectors) for _ in chunks]
    matrix = np.stack(taken) if taken else np.zeros((0, 1), dtype=np.float32)
    return DocumentChunks(part=doc.part, title=doc.title, author=doc.author, year=doc.year,
                          kind=doc.kind, spans=[(c.start, c.end, c.text) for c in chunks],
                          vectors=matrix)


def _skip(report: IngestReport, path, reason: str) -> None:
    report.skipped.append({"path": stored_path(path), "reason": reason})
