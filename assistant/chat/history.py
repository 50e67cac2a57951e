"""Chat history in SQLite (``LIRA_HOME/history.sqlite``): conversations, messages, sources.

The schema is versioned like an index catalog: numbered migrations, the
version in ``PRAGMA user_version``.  Every write is its own small transaction,
so an answer saved as it streams survives the app being killed mid-answer.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import LiraError
from assistant.rag import Source
from index.migrations import migrate
from index.sqlite_errors import ACCESS, BUSY, FULL, sqlite_problem

HISTORY_FILE = "history.sqlite"

# Numbered migrations: entry i brings the schema from version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        mode TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        mode TEXT NOT NULL,
        text TEXT NOT NULL,
        complete INTEGER NOT NULL DEFAULT 1,
        index_name TEXT,
        author TEXT,
        model TEXT,
        adapter TEXT,
        device TEXT,
        prompt_tokens INTEGER,
        new_tokens INTEGER,
        first_token_s REAL,
        total_s REAL,
        stopped_by TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL);
    CREATE INDEX messages_conversation ON messages(conversation_id, id);
    CREATE TABLE sources (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        path TEXT NOT NULL,
        title TEXT NOT NULL,
        author TEXT NOT NULL,
        text TEXT NOT NULL,
        score REAL NOT NULL,
        PRIMARY KEY (message_id, n));
    """,
    # v2: the query a documents answer searched (a follow-up made standalone), so that a
    # resumed conversation reads its next follow-up as the app did; named sessions of
    # `lira ask --session NAME`.
    """
    ALTER TABLE messages ADD COLUMN searched TEXT;
    ALTER TABLE conversations ADD COLUMN session TEXT;
    CREATE UNIQUE INDEX conversations_session ON conversations(session)
        WHERE session IS NOT NULL;
    """,
]


class HistoryError(LiraError):
    """The history file is damaged or from a newer Lira."""


class HistoryDiskError(HistoryError, sqlite3.DatabaseError):
    """A read or write of an open history failed; one line naming the file and what to do.

    Also an sqlite3.Error, so code that treats any database error as "the history is
    unavailable" keeps catching it."""


MOVE_AWAY = "move it away to start a new one"


def history_error(path: Path, exc: sqlite3.Error) -> HistoryDiskError:
    """The one-line error for an sqlite3 error on the history file at ``path``."""
    text = _first_line(str(exc)) or type(exc).__name__
    problem = sqlite_problem(exc)
    if problem == BUSY:
        advice = "another Lira is writing to it; close it and try again"
    elif problem == FULL:
        advice = "free some disk space and try again"
    elif problem == ACCESS:
        advice = f"check that {path.parent} is writable"
    else:
        return HistoryDiskError(f"chat history {path} is damaged ({text}); {MOVE_AWAY}")
    return HistoryDiskError(f"chat history {path} cannot be used ({text}); {advice}")


def _first_line(text: str) -> str:
    """The first informative line (quick_check's report starts with '*** in database main ***')."""
    return next((line.strip() for line in text.splitlines()
                 if line.strip() and not line.startswith("***")), "")


def _guarded(method):
    """Turn an sqlite3 error of a History method into a one-line HistoryDiskError."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (HistoryDiskError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # already one line, or a bug (a closed connection, a bad parameter)
        except sqlite3.Error as exc:
            raise history_error(self.path, exc) from exc
    return wrapper


@dataclass(frozen=True)
class Conversation:
    """A conversation as listed in the history picker."""

    id: int
    title: str
    mode: str
    created_at: float
    updated_at: float
    messages: int = 0


@dataclass
class AnswerStats:
    """Timings of one generated answer."""

    prompt_tokens: int = 0
    new_tokens: int = 0
    first_token_s: float | None = None
    total_s: float = 0.0
    stopped_by: str = ""

    @property
    def tokens_per_s(self) -> float:
        decode_s = self.total_s - (self.first_token_s or 0.0)
        return (self.new_tokens - 1) / decode_s if self.new_tokens > 1 and decode_s > 0 else 0.0


@dataclass
class ModelUsed:
    """Which model produced an answer."""

    model: str = ""
    adapter: str = ""
    device: str = ""


@dataclass
class StoredMessage:
    """One question or answer of a conversation."""

    id: int
    conversation_id: int
    role: str  # user | assistant
    mode: str
    text: str
    complete: bool = True
    index_name: str | None = None
    author: str | None = None
    model: ModelUsed = field(default_factory=ModelUsed)
    stats: AnswerStats | None = None
    sources: list[Source] = field(default_factory=list)
    created_at: float = 0.0
    searched: str | None = None  # documents answers: the query searched, if not the question


class History:
    """The history database; one connection, used from the app's thread."""

    def __init__(self, path: Path, conn: sqlite3.Connection,
                 clock: Callable[[], float] = time.time):
        self.path = path
        self.conn = conn
        self.clock = clock

    @classmethod
    def open(cls, path: Path, clock: Callable[[], float] = time.time) -> History:
        """Open (creating and migrating as needed) the history file at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(path, timeout=10, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a killed process loses nothing committed; only power loss could.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            _migrate(conn)
            # A file whose header is intact but whose pages are not opens fine and fails
            # at the first read; quick_check (milliseconds for a history) finds it here.
            problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        except sqlite3.Error as exc:
            raise history_error(path, exc) from exc
        if problem != "ok":
            conn.close()
            raise HistoryError(f"chat history {path} is damaged ({_first_line(problem)}); "
                               f"{MOVE_AWAY}")
        return cls(path, conn, clock)

    def close(self) -> None:
        self.conn.close()

    @property
    @_guarded
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    # ----- conversations -----------------------------------------------------
    @_guarded
    def create_conversation(self, mode: str, title: str = "") -> int:
        now = self.clock()
        cur = self.conn.execute(
            "INSERT INTO conversations(title, mode, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (title, mode, now, now))
        return int(cur.lastrowid)

    @_guarded
    def conversations(self) -> list[Conversation]:
        """Every conversation, most recently updated first."""
        rows = self.conn.execute(
            "SELECT c.id, c.title, c.mode, c.created_at, c.updated_at, count(m.id) "
            "FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id "
            "GROUP BY c.id ORDER BY c.updated_at DESC, c.id DESC")
        return [Conversation(*row) for row in rows]

    def conversation(self, conversation_id: int) -> Conversation | None:
        return next((c for c in self.conversations() if c.id == conversation_id), None)

    def latest(self) -> Conversation | None:
        """The conversation updated last, if any."""
        found = self.conversations()
        return found[0] if found else None

    @_guarded
    def set_mode(self, conversation_id: int, mode: str) -> None:
        self.conn.execute("UPDATE conversations SET mode = ? WHERE id = ?",
                          (mode, conversation_id))

    @_guarded
    def delete_conversation(self, conversation_id: int) -> None:
        """Forget a conversation with its messages and their sources."""
        self.conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # ----- messages ----------------------------------------------------------
    @_guarded
    def add_question(self, conversation_id: int, text: str, mode: str,
                     index_name: str | None = None, author: str | None = None) -> int:
        """Store what the user sent."""
        return self._insert(conversation_id, "user", mode, text, True, index_name, author,
                            ModelUsed())

    @_guarded
    def start_answer(self, conversation_id: int, mode: str, model: ModelUsed | None = None,
                     index_name: str | None = None, author: str | None = None) -> int:
        """An empty, incomplete answer that save_partial and finish_answer fill in."""
        return self._insert(conversation_id, "assistant", mode, "", False, index_name, author,
                            model or ModelUsed())

    @_guarded
    def set_model(self, message_id: int, model: ModelUsed) -> None:
        self.conn.execute("UPDATE messages SET model = ?, adapter = ?, device = ? WHERE id = ?",
                          (model.model, model.adapter, model.device, message_id))

    @_guarded
    def session(self, name: str, mode: str) -> int:
        """The id of the conversation named ``name`` (`lira ask --session`), created in
        ``mode`` on first use."""
        row = self.conn.execute("SELECT id FROM conversations WHERE session = ?",
                                (name,)).fetchone()
        if row is not None:
            return int(row[0])
        now = self.clock()
        cur = self.conn.execute(
            "INSERT INTO conversations(title, mode, created_at, updated_at, session) "
            "VALUES (?, ?, ?, ?, ?)", (name, mode, now, now, name))
        return int(cur.lastrowid)

    @_guarded
    def set_searched(self, message_id: int, searched: str | None) -> None:
        self.conn.execute("UPDATE messages SET searched = ? WHERE id = ?", (searched, message_id))

    @_guarded
    def set_sources(self, message_id: int, sources: Sequence[Source]) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sources WHERE message_id = ?", (message_id,))
            db.executemany(
                "INSERT INTO sources(message_id, n, path, title, author, text, score) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(message_id, s.n, s.path, s.title, s.author, s.text, float(s.score))
                 for s in sources])

    @_guarded
    def save_partial(self, message_id: int, text: str) -> None:
        """Store the text streamed so far (one small transaction)."""
        self.conn.execute("UPDATE messages SET text = ?, updated_at = ? WHERE id = ?",
                          (text, self.clock(), message_id))

    @_guarded
    def finish_answer(self, message_id: int, text: str, stats: AnswerStats | None = None,
                      complete: bool = True) -> None:
        """Store the final text and timings; ``complete`` is False for a broken-off answer."""
        stats = stats or AnswerStats()
        with self._transaction() as db:
            db.execute(
                "UPDATE messages SET text = ?, complete = ?, prompt_tokens = ?, new_tokens = ?, "
                "first_token_s = ?, total_s = ?, stopped_by = ?, updated_at = ? WHERE id = ?",
                (text, int(complete), stats.prompt_tokens, stats.new_tokens,
                 stats.first_token_s, stats.total_s, stats.stopped_by or None, self.clock(),
                 message_id))
            self._touch(db, message_id)

    @_guarded
    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """The conversation's messages in order, with their sources."""
        rows = self.conn.execute(
            "SELECT id, conversation_id, role, mode, text, complete, index_name, author, model, "
            "adapter, device, prompt_tokens, new_tokens, first_token_s, total_s, stopped_by, "
            "created_at, searched FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,))
        messages = [_message(row) for row in rows.fetchall()]
        by_id = {m.id: m for m in messages}
        if by_id:
            marks = ",".join("?" * len(by_id))
            for row in self.conn.execute(
                    f"SELECT message_id, n, path, title, author, text, score FROM sources "
                    f"WHERE message_id IN ({marks}) ORDER BY message_id, n", list(by_id)):
                by_id[row[0]].sources.append(Source(*row[1:]))
        return messages

    def _insert(self, conversation_id: int, role: str, mode: str, text: str, complete: bool,
                index_name: str | None, author: str | None, model: ModelUsed) -> int:
        now = self.clock()
        with self._transaction() as db:
            cur = db.execute(
                "INSERT INTO messages(conversation_id, role, mode, text, complete, index_name, "
                "author, model, adapter, device, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, mode, text, int(complete), index_name, author,
                 model.model or None, model.adapter or None, model.device or None, now, now))
            db.execute("UPDATE conversations SET updated_at = ?, mode = ? WHERE id = ?",
                       (now, mode, conversation_id))
            return int(cur.lastrowid)

    def _touch(self, db: sqlite3.Connection, message_id: int) -> None:
        db.execute("UPDATE conversations SET updated_at = ? WHERE id = "
                   "(SELECT conversation_id FROM messages WHERE id = ?)",
                   (self.clock(), message_id))

    def _transaction(self):
        return _Transaction(self.conn)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _message(row: tuple) -> StoredMessage:
    (mid, cid, role, mode, text, complete, index_name, author, model, adapter, device,
     prompt_tokens, new_tokens, first_token_s, total_s, stopped_by, created_at, searched) = row
    stats = None
    if role == "assistant" and (new_tokens is not None or stopped_by):
        stats = AnswerStats(prompt_tokens or 0, new_tokens or 0, first_token_s, total_s or 0.0,
                            stopped_by or "")
    return StoredMessage(mid, cid, role, mode, text, bool(complete), index_name, author,
                         ModelUsed(model or "", adapter or "", device or ""), stats, [],
                         created_at, searched)


def _migrate(conn: sqlite3.Connection) -> None:
    migrate(conn, MIGRATIONS, lambda found, known: HistoryError(
        f"chat history schema v{found} is newer than this Lira (v{known}); "
        "upgrade lira-assistant"))
