"""Numbered SQLite migrations, tracked in PRAGMA user_version.

Shared by the index catalog and (in assistant/) the chat history.  Each
migration runs in its own transaction, and the version is re-read inside it,
so two processes opening the same file at once cannot apply one twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence


class SchemaTooNew(Exception):
    """The file was written by a newer Lira; the message says which versions."""


def migrate(conn: sqlite3.Connection, migrations: Sequence[str],
            too_new: Callable[[int, int], Exception] | None = None) -> None:
    """Bring ``conn`` to ``len(migrations)``; ``migrations[i]`` goes from i to i + 1."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(migrations):
                make = too_new or (lambda found, known: SchemaTooNew(f"v{found} > v{known}"))
                raise make(version, len(migrations))
            if version == len(migrations):
                conn.execute("COMMIT")
                return
            for statement in statements(migrations[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def statements(script: str) -> Iterator[str]:
    """Split a script into statements, keeping trigger bodies (with their ';') whole."""
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                yield buffer
            buffer = ""
