"""The index on disk: chunk text and metadata in SQLite, vectors in FAISS.

SQLite is the source of truth.  Every chunk's vector is also kept in SQLite,
and every committed change bumps a ``generation`` counter; the FAISS file is
a cache named after the generation it holds.  If a run dies between the two,
the next open finds no FAISS file of the current generation and rebuilds it
from SQLite, so a crash never leaves an unusable index.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from index.errors import StoreError

CATALOG = "catalog.sqlite"
WRITE_LOCK = ".write.lock"

# Numbered migrations: entry i brings the schema from version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE files (
        path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime REAL NOT NULL,
        sha256 TEXT NOT NULL, indexed_at REAL NOT NULL);
    CREATE TABLE documents (
        id INTEGER PRIMARY KEY, path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
        part INTEGER NOT NULL, title TEXT NOT NULL, author TEXT NOT NULL, year INTEGER);
    CREATE INDEX documents_path ON documents(path);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        ord INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
        text TEXT NOT NULL, vector BLOB NOT NULL);
    CREATE INDEX chunks_doc ON chunks(doc_id);
    """,
]


@dataclass(frozen=True)
class FileState:
    """What the index remembers of a source file, to skip it when unchanged."""

    path: str
    size: int
    mtime: float
    sha256: str


@dataclass(frozen=True)
class ChunkRecord:
    """A stored chunk with its document's metadata."""

    id: int
    path: str
    title: str
    author: str
    year: int | None
    start: int
    end: int
    text: str


@dataclass
class DocumentChunks:
    """A document's metadata, its chunks and their vectors, ready to store."""

    part: int
    title: str
    author: str
    year: int | None
    spans: list[tuple[int, int, str]]  # (start, end, text)
    vectors: np.ndarray


class IndexStore:
    """One named index: a folder with a SQLite catalog and FAISS vectors."""

    def __init__(self, folder: Path, conn: sqlite3.Connection):
        self.folder = folder
        self.conn = conn
        self._faiss = None

    # ----- opening -----------------------------------------------------------
    @staticmethod
    def exists(folder: Path) -> bool:
        """Whether ``folder`` holds an index catalog."""
        return (folder / CATALOG).is_file()

    @classmethod
    def open(cls, folder: Path, create: bool = False) -> "IndexStore":
        """Open an index folder; with ``create`` make it if missing."""
        catalog = folder / CATALOG
        if not catalog.is_file():
            if not create:
                raise StoreError(f"no index at {folder}; build one with `lira index PATH`")
            folder.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(catalog, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            _migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"index catalog {catalog} is damaged ({exc}); "
                             "rebuild it with `lira index PATH` into a new --name") from exc
        return cls(folder, conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold the index's writer lock; refuse at once if another run holds it."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.folder / WRITE_LOCK))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise StoreError(f"index {self.folder.name!r} is being updated by another "
                             "lira process; wait for it to finish and run again") from None
        try:
            yield
        finally:
            lock.release()

    # ----- metadata ----------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @property
    def embedder(self) -> str | None:
        """Name of the embedder the vectors were made with."""
        return self.meta("embedder")

    @property
    def dim(self) -> int | None:
        value = self.meta("dim")
        return int(value) if value else None

    def check_embedder(self, name: str, dim: int) -> None:
        """Refuse an embedder other than the one the index was built with."""
        if self.embedder is None:
            with self.transaction():
                self._set_meta("embedder", name)
                self._set_meta("dim", str(dim))
            return
        if self.embedder != name or self.dim != dim:
            raise StoreError(f"index {self.folder.name!r} was built with embedder "
                             f"'{self.embedder}' ({self.dim}-d), not '{name}'; "
                             "use that embedder or re-index into a new --name")

    @property
    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    # ----- writing -----------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that bumps the generation when it commits."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self._set_meta("generation", str(self.generation + 1))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            self._faiss = None  # in-memory vectors may be ahead of SQLite now
            raise

    def files(self) -> dict[str, FileState]:
        """Every indexed source file by path."""
        rows = self.conn.execute("SELECT path, size, mtime, sha256 FROM files")
        return {r[0]: FileState(*r) for r in rows}

    def touch_file(self, state: FileState) -> None:
        """Record a new size/mtime for a file whose content did not change."""
        with self.transaction() as db:
            db.execute("UPDATE files SET size = ?, mtime = ? WHERE path = ?",
                       (state.size, state.mtime, state.path))

    def replace_file(self, state: FileState, documents: Sequence[DocumentChunks]) -> int:
        """Store a file's documents and chunks, replacing any older version."""
        vectors = self._vectors()
        with self.transaction() as db:
            self._delete_file(db, state.path, vectors)
            db.execute("INSERT INTO files(path, size, mtime, sha256, indexed_at) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (state.path, state.size, state.mtime, state.sha256, time.time()))
            added = sum(self._insert_document(db, state.path, doc, vectors) for doc in documents)
        return added

    def remove_file(self, path: str) -> None:
        """Forget a file and everything made from it."""
        vectors = self._vectors()
        with self.transaction() as db:
            self._delete_file(db, path, vectors)

    def _delete_file(self, db: sqlite3.Connection, path: str, vectors) -> None:
        ids = [r[0] for r in db.execute(
            "SELECT c.id FROM chunks c JOIN documents d ON c.doc_id = d.id WHERE d.path = ?",
            (path,))]
        db.execute("DELETE FROM files WHERE path = ?", (path,))
        if ids:
            vectors.remove_ids(np.asarray(ids, dtype=np.int64))

    def _insert_document(self, db: sqlite3.Connection, path: str, doc: DocumentChunks,
                         vectors) -> int:
        cur = db.execute("INSERT INTO documents(path, part, title, author, year) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (path, doc.part, doc.title, doc.author, doc.year))
        doc_id = cur.lastrowid
        ids = []
        for ord_, ((start, end, text), vec) in enumerate(zip(doc.spans, doc.vectors)):
            cur = db.execute('INSERT INTO chunks(doc_id, ord, start, "end", text, vector) '
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (doc_id, ord_, start, end, text, vec.astype(np.float32).tobytes()))
            ids.append(cur.lastrowid)
        if ids:
            vectors.add_with_ids(np.asarray(doc.vectors, dtype=np.float32),
                                 np.asarray(ids, dtype=np.int64))
        return len(ids)

    # ----- FAISS -------------------------------------------------------------
    def _vectors(self):
        """The FAISS index matching the catalog's generation, loaded or rebuilt."""
        if self._faiss is None:
            self._faiss = self._load_vectors() or self._rebuild_vectors()
        return self._faiss

    def _faiss_path(self, generation: int) -> Path:
        return self.folder / f"vectors.{generation}.faiss"

    def _load_vectors(self):
        import faiss

        path = self._faiss_path(self.generation)
        if not path.is_file():
            return None
        try:
            return faiss.read_index(str(path))
        except RuntimeError:
            return None  # a damaged cache is rebuilt from the catalog

    def _rebuild_vectors(self):
        import faiss

        dim = self.dim or 1
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        rows = self.conn.execute("SELECT id, vector FROM chunks ORDER BY id")
        while batch := rows.fetchmany(4096):
            ids = np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch))
            vecs = np.frombuffer(b"".join(r[1] for r in batch), dtype=np.float32)
            index.add_with_ids(vecs.reshape(len(batch), dim), ids)
        return index

    def save(self) -> None:
        """Write the FAISS cache for the current generation atomically."""
        import faiss

        target = self._faiss_path(self.generation)
        if self._faiss is None or target.is_file():
            return
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        faiss.write_index(self._faiss, str(tmp))
        os.replace(tmp, target)
        for old in self.folder.glob("vectors.*.faiss"):
            if old != target:
                old.unlink(missing_ok=True)

    # ----- reading -----------------------------------------------------------
    def chunk_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def search_dense(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """Top-k (chunk id, inner product) for each query vector."""
        vectors = self._vectors()
        if vectors.ntotal == 0:
            return [[] for _ in range(len(queries))]
        scores, ids = vectors.search(np.asarray(queries, dtype=np.float32), min(k, vectors.ntotal))
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                for row_ids, row_scores in zip(ids, scores)]

    def chunks(self, ids: Sequence[int]) -> list[ChunkRecord]:
        """Chunk records in the order of ``ids`` (missing ids are dropped)."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f'SELECT c.id, d.path, d.title, d.author, d.year, c.start, c."end", c.text '
            f"FROM chunks c JOIN documents d ON c.doc_id = d.id WHERE c.id IN ({marks})",
            list(ids))
        by_id = {r[0]: ChunkRecord(*r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply pending migrations, one transaction each (safe with two processes)."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(f"index schema v{version} is newer than this Lira "
                                 f"(v{len(MIGRATIONS)}); upgrade lira-assistant")
            if version == len(MIGRATIONS):
                conn.execute("COMMIT")
                return
            for statement in filter(str.strip, MIGRATIONS[version].split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
