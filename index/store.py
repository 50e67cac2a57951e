"""The index on disk: chunk text and metadata in SQLite, vectors in FAISS.

SQLite is the source of truth.  Every chunk's vector is also kept in SQLite,
and every committed change bumps a ``generation`` counter; the FAISS file is
a cache named after the generation it holds.  If a run dies between the two,
the next open finds no FAISS file of the current generation and rebuilds it
from SQLite, so a crash never leaves an unusable index; so does a cache whose
header does not match the catalog (index.vectors checks it before reading).
Every SQLite error on the catalog becomes a one-line StoreError (see _Catalog).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.errors import StoreError
from index.filters import Filters
from index.lexical import match_expression, stems_text
from index.migrations import migrate
from index.paths import printable
from index.sqlite_errors import ACCESS, BUSY, FULL, sqlite_problem
from index.vectors import IVF_THRESHOLD, FaissIndex

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
        part INTEGER NOT NULL, title TEXT NOT NULL, author TEXT NOT NULL, year INTEGER,
        kind TEXT NOT NULL DEFAULT 'text');
    CREATE INDEX documents_path ON documents(path);
    CREATE INDEX documents_author ON documents(author);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        ord INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
        text TEXT NOT NULL, vector BLOB NOT NULL);
    CREATE INDEX chunks_doc ON chunks(doc_id);
    CREATE VIRTUAL TABLE chunk_terms USING fts5(stems, tokenize = 'unicode61 remove_diacritics 2');
    CREATE TRIGGER chunks_forget_terms AFTER DELETE ON chunks BEGIN
        DELETE FROM chunk_terms WHERE rowid = old.id;
    END
    """,
]


# The sha256 of a file whose chunks are stored in parts carries this prefix until the
# last part commits (IndexStore.write_file_part).
PARTIAL = "partial:"


@dataclass(frozen=True)
class FileState:
    """What the index remembers of a source file, to skip it when unchanged."""

    path: str  # as stored and shown: index.paths.stored_path (real_path leads back)
    size: int
    mtime: float
    sha256: str

    @property
    def partial(self) -> bool:
        """Whether an interrupted run stored only some of this file's chunks."""
        return self.sha256.startswith(PARTIAL)


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
    kind: str = "text"


@dataclass
class DocumentChunks:
    """A document's metadata, its chunks and their vectors, ready to store."""

    part: int
    title: str
    author: str
    year: int | None
    spans: list[tuple[int, int, str]]  # (start, end, text)
    vectors: np.ndarray
    kind: str = "text"


class IndexStore:
    """One named index: a folder with a SQLite catalog and a FAISS cache."""

    def __init__(self, folder: Path, conn: sqlite3.Connection):
        self.folder = folder
        self.conn = conn
        self._vectors_cache: FaissIndex | None = None
        self._vectors_generation = -1  # the catalog generation the cache reflects

    # ----- opening -----------------------------------------------------------
    @staticmethod
    def exists(folder: Path) -> bool:
        """Whether ``folder`` holds an index catalog."""
        return (folder / CATALOG).is_file()

    @classmethod
    def open(cls, folder: Path, create: bool = False) -> IndexStore:
        """Open an index folder; with ``create`` make it if missing."""
        catalog = folder / CATALOG
        if not catalog.is_file():
            if not create:
                raise StoreError(f"no index at {folder}; build one with `lira index PATH`")
            folder.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(catalog, timeout=30, isolation_level=None,
                                   check_same_thread=False, factory=_Catalog)
        except sqlite3.Error as exc:
            raise catalog_error(folder, exc) from exc
        conn.folder = folder
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.create_function("casefold", 1, _casefold, deterministic=True)
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
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
            self._vectors_generation = self.generation  # our change is already in the cache
        except BaseException:
            if self.conn.in_transaction:  # SQLite itself rolls back on some errors
                with suppress(StoreError):  # the error that brought us here matters more
                    self.conn.execute("ROLLBACK")
            self._vectors_cache = None  # in-memory vectors may be ahead of SQLite now
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
        return self.replace_files([(state, documents)])

    def replace_files(self, files: Sequence[tuple[FileState, Sequence[DocumentChunks]]]) -> int:
        """Replace several files in one transaction; returns the chunks added."""
        vectors = self._vectors()
        added = 0
        with self.transaction() as db:
            for state, documents in files:
                self._delete_file(db, state.path, vectors)
                db.execute("INSERT INTO files(path, size, mtime, sha256, indexed_at) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (state.path, state.size, state.mtime, state.sha256, time.time()))
                added += sum(self._insert_document(db, state.path, doc, vectors)
                             for doc in documents)
        return added

    def write_file_part(self, state: FileState, documents: Sequence[DocumentChunks], *,
                        first: bool, last: bool) -> int:
        """Store one part of a large file's chunks in a transaction of its own, so a file of
        any size commits as it goes and an interrupted run keeps its parts.

        ``first`` replaces any older version of the file; until ``last`` commits, the file is
        recorded as partial (``FileState.partial``) and ``stored_spans`` tells where to resume.
        A document continued from an earlier part gets its chunks appended.
        """
        vectors = self._vectors()
        with self.transaction() as db:
            if first:
                self._delete_file(db, state.path, vectors)
                db.execute("INSERT INTO files(path, size, mtime, sha256, indexed_at) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (state.path, state.size, state.mtime, PARTIAL + state.sha256, time.time()))
            added = sum(self._insert_document(db, state.path, doc, vectors, append=not first)
                        for doc in documents)
            if last:
                db.execute("UPDATE files SET size = ?, mtime = ?, sha256 = ?, indexed_at = ? "
                           "WHERE path = ?",
                           (state.size, state.mtime, state.sha256, time.time(), state.path))
        return added

    def stored_spans(self, path: str) -> dict[int, list[tuple[int, int]]]:
        """(start, end) of each stored chunk of ``path``, in order, by document part."""
        spans: dict[int, list[tuple[int, int]]] = {}
        rows = self.conn.execute('SELECT d.part, c.start, c."end" FROM chunks c '
                                 "JOIN documents d ON c.doc_id = d.id WHERE d.path = ? "
                                 "ORDER BY d.part, c.ord", (path,))
        for part, start, end in rows:
            spans.setdefault(part, []).append((start, end))
        return spans

    def remove_file(self, path: str) -> None:
        """Forget a file and everything made from it."""
        vectors = self._vectors()
        with self.transaction() as db:
            self._delete_file(db, path, vectors)

    def _delete_file(self, db: sqlite3.Connection, path: str, vectors: FaissIndex) -> None:
        ids = [r[0] for r in db.execute(
            "SELECT c.id FROM chunks c JOIN documents d ON c.doc_id = d.id WHERE d.path = ?",
            (path,))]
        db.execute("DELETE FROM files WHERE path = ?", (path,))
        if ids:
            vectors.remove(np.asarray(ids, dtype=np.int64))

    def _insert_document(self, db: sqlite3.Connection, path: str, doc: DocumentChunks,
                         vectors: FaissIndex, append: bool = False) -> int:
        title = printable(doc.title)  # a title made from a file name may hold any byte
        doc_id, first_ord = self._document_row(db, path, doc, title, append)
        ids = []
        for ord_, ((start, end, text), vec) in enumerate(zip(doc.spans, doc.vectors), first_ord):
            text = printable(text)
            cur = db.execute('INSERT INTO chunks(doc_id, ord, start, "end", text, vector) '
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (doc_id, ord_, start, end, text, vec.astype(np.float32).tobytes()))
            db.execute("INSERT INTO chunk_terms(rowid, stems) VALUES (?, ?)",
                       (cur.lastrowid, stems_text(title + "\n" + text)))
            ids.append(cur.lastrowid)
        if ids:
            vectors.add(np.asarray(ids, dtype=np.int64), np.asarray(doc.vectors))
        return len(ids)

    @staticmethod
    def _document_row(db: sqlite3.Connection, path: str, doc: DocumentChunks, title: str,
                      append: bool) -> tuple[int, int]:
        """The id of ``doc``'s row (a new one or, with ``append``, the row an earlier part of
        a large file began) and the ``ord`` its next chunk takes."""
        row = append and db.execute(
            "SELECT d.id, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id) "
            "FROM documents d WHERE d.path = ? AND d.part = ?", (path, doc.part)).fetchone()
        if row:
            return row[0], row[1]
        cur = db.execute("INSERT INTO documents(path, part, title, author, year, kind) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (path, doc.part, title, printable(doc.author), doc.year, doc.kind))
        return cur.lastrowid, 0

    # ----- vectors -----------------------------------------------------------
    def _vectors(self) -> FaissIndex:
        """The vector index matching the catalog's generation, loaded or rebuilt.

        Another process (or another store object) may have committed since the
        cache was loaded; the generation tells, and the cache is reloaded.
        """
        generation = self.generation
        if self._vectors_cache is None or self._vectors_generation != generation:
            self._vectors_cache = (FaissIndex.load(self._faiss_path(generation), self.dim or 1,
                                                   self.chunk_count())
                                   or self._rebuild_vectors())
            self._vectors_generation = generation
        return self._vectors_cache

    def _faiss_path(self, generation: int) -> Path:
        return self.folder / f"vectors.{generation}.faiss"

    def _rebuild_vectors(self) -> FaissIndex:
        return FaissIndex.build(self.dim or 1, self._stored_vectors(), self.chunk_count())

    def _stored_vectors(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        dim = self.dim or 1
        rows = self.conn.execute("SELECT id, vector FROM chunks ORDER BY id")
        while batch := rows.fetchmany(8192):
            ids = np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch))
            vectors = np.frombuffer(b"".join(r[1] for r in batch), dtype=np.float32)
            yield ids, vectors.reshape(len(batch), dim)

    def save(self) -> None:
        """Write the vector cache for the current generation, dropping older ones."""
        target = self._faiss_path(self.generation)
        if self._vectors_cache is None or target.is_file():
            return
        if self._vectors_cache.kind == "flat" and self._vectors_cache.size >= IVF_THRESHOLD:
            self._vectors_cache = self._rebuild_vectors()  # grown past exact search
        self._vectors_cache.save(target)
        for old in self.folder.glob("vectors.*.faiss"):
            if old != target:
                old.unlink(missing_ok=True)

    # ----- reading -----------------------------------------------------------
    def chunk_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def allowed_ids(self, filters: Filters) -> np.ndarray | None:
        """Chunk ids passing ``filters`` (None when there are no filters)."""
        if filters.empty:
            return None
        where, params = filters.where()
        rows = self.conn.execute(
            f"SELECT c.id FROM chunks c JOIN documents d ON c.doc_id = d.id WHERE {where}", params)
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def search_dense(self, queries: np.ndarray, k: int,
                     filters: Filters | None = None) -> list[list[tuple[int, float]]]:
        """Top-k (chunk id, inner product) for each query vector."""
        allowed = self.allowed_ids(filters or Filters())
        return self._vectors().search(queries, k, allowed)

    def search_lexical(self, query: str, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]:
        """Top-k (chunk id, BM25 score; higher is better) for the query's stems."""
        expression = match_expression(query)
        if expression is None:
            return []
        where, params = (filters or Filters()).where()
        rows = self.conn.execute(
            "SELECT t.rowid, -bm25(chunk_terms) AS score FROM chunk_terms t "
            "JOIN chunks c ON c.id = t.rowid JOIN documents d ON c.doc_id = d.id "
            f"WHERE chunk_terms MATCH ? AND {where} ORDER BY bm25(chunk_terms) LIMIT ?",
            [expression, *params, k])
        return [(int(r[0]), float(r[1])) for r in rows]

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of ``ids``, in that order."""
        if not ids:
            return np.zeros((0, self.dim or 1), dtype=np.float32)
        marks = ",".join("?" * len(ids))
        rows = dict(self.conn.execute(f"SELECT id, vector FROM chunks WHERE id IN ({marks})",
                                      list(ids)))
        return np.stack([np.frombuffer(rows[i], dtype=np.float32) for i in ids])

    def chunks(self, ids: Sequence[int]) -> list[ChunkRecord]:
        """Chunk records in the order of ``ids`` (missing ids are dropped)."""
        ids = list(ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f'SELECT c.id, d.path, d.title, d.author, d.year, c.start, c."end", c.text, d.kind '
            f"FROM chunks c JOIN documents d ON c.doc_id = d.id WHERE c.id IN ({marks})", ids)
        by_id = {r[0]: ChunkRecord(*r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def authors(self, kind: str | None = None) -> list[tuple[str, int]]:
        """(author, number of documents) pairs, most documents first."""
        where, params = ("d.kind = ?", [kind]) if kind else ("1", [])
        rows = self.conn.execute(
            f"SELECT d.author, count(*) FROM documents d WHERE d.author != '' AND {where} "
            "GROUP BY d.author ORDER BY count(*) DESC, d.author", params)
        return [(r[0], int(r[1])) for r in rows]


def catalog_error(folder: Path, exc: sqlite3.Error) -> StoreError:
    """The one-line error for an SQLite failure on the catalog in ``folder``."""
    name = folder.name
    detail = f"{CATALOG}: {exc}"
    problem = sqlite_problem(exc)
    if problem == BUSY:
        return StoreError(f"index {name!r} is in use by another lira process ({detail}); "
                          "wait for it to finish and run again")
    if problem == ACCESS:
        return StoreError(f"index {name!r} cannot be opened or written ({detail}); "
                          f"check the permissions of {folder} and its files")
    if problem == FULL:
        return StoreError(f"index {name!r} cannot be written ({detail}); "
                          "free some disk space and run again")
    return StoreError(f"index {name!r} is damaged ({detail}); rebuild it: delete {folder} "
                      f"and run `lira index PATH --name {name}`")


@contextmanager
def _as_store_errors(folder: Path) -> Iterator[None]:
    try:
        yield
    except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
        raise  # a misuse of the connection is a bug, not a property of the file
    except sqlite3.Error as exc:
        raise catalog_error(folder, exc) from exc


class _Catalog(sqlite3.Connection):
    """The catalog's connection: an SQLite error it raises, whether on a statement or
    while its rows are read, becomes a one-line StoreError naming the index.  This is
    the one place that turns them; every query of the store goes through it."""

    folder: Path

    def execute(self, sql: str, parameters=(), /) -> sqlite3.Cursor:
        return self.cursor(_Rows).execute(sql, parameters)

    def executemany(self, sql: str, parameters, /) -> sqlite3.Cursor:
        return self.cursor(_Rows).executemany(sql, parameters)

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        return self.cursor(_Rows).executescript(script)


class _Rows(sqlite3.Cursor):
    """A cursor of :class:`_Catalog` (see there)."""

    def execute(self, sql: str, parameters=(), /) -> sqlite3.Cursor:
        with _as_store_errors(self.connection.folder):
            return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters, /) -> sqlite3.Cursor:
        with _as_store_errors(self.connection.folder):
            return super().executemany(sql, parameters)

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        with _as_store_errors(self.connection.folder):
            return super().executescript(script)

    def fetchone(self):
        with _as_store_errors(self.connection.folder):
            return super().fetchone()

    def fetchmany(self, size: int | None = None):
        with _as_store_errors(self.connection.folder):
            return super().fetchmany(self.arraysize if size is None else size)

    def fetchall(self):
        with _as_store_errors(self.connection.folder):
            return super().fetchall()

    def __next__(self):
        with _as_store_errors(self.connection.folder):
            return super().__next__()


def _casefold(value: str | None) -> str:
    return (value or "").casefold()


def _migrate(conn: sqlite3.Connection) -> None:
    migrate(conn, MIGRATIONS, lambda found, known: StoreError(
        f"index schema v{found} is newer than this Lira (v{known}); upgrade lira-assistant"))
