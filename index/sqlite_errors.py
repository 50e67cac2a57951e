"""What an SQLite error says about its database file, for the messages that name it.

The catalog (index/store.py) and the chat history (assistant/chat/history.py)
both turn SQLite errors into one line that says what to do; they agree here on
what kind of trouble an error is.
"""

from __future__ import annotations

import sqlite3

BUSY, ACCESS, FULL, DAMAGED = "busy", "access", "full", "damaged"

_BY_CODE = (  # SQLite's own error names; extended ones (SQLITE_BUSY_SNAPSHOT...) share a prefix
    (("SQLITE_BUSY", "SQLITE_LOCKED"), BUSY),
    (("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN", "SQLITE_AUTH"), ACCESS),
    (("SQLITE_FULL",), FULL),
)
_BY_WORDS = (  # an error raised without a code (by Lira's own checks, say): its message
    (("locked", "busy"), BUSY),
    (("readonly", "read-only", "unable to open"), ACCESS),
    (("full",), FULL),
)


def sqlite_problem(exc: sqlite3.Error) -> str:
    """BUSY (another writer), ACCESS (permissions, cannot open), FULL (no disk space) or
    DAMAGED (anything else: a malformed file, a file that is not a database)."""
    code = getattr(exc, "sqlite_errorname", "") or ""
    if code:
        return next((kind for prefixes, kind in _BY_CODE if code.startswith(prefixes)), DAMAGED)
    text = str(exc).lower()
    return next((kind for words, kind in _BY_WORDS if any(w in text for w in words)), DAMAGED)
