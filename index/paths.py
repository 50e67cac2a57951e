"""File paths as the catalog stores and shows them, and the way back.

A POSIX file name is bytes; Python hands names that are not valid UTF-8
(copied from old Windows or KOI8-R disks) over with lone surrogates, which
SQLite, JSON and a UTF-8 terminal all refuse.  The catalog therefore keeps a
printable text form: a path that is valid UTF-8 and holds no backslash is kept
as it is; otherwise each byte that is not UTF-8 becomes ``\\xNN`` and each
backslash ``\\\\``.  The form is what users see, and :func:`real_path` turns it
back into the name on disk, so nothing is lost.
"""

from __future__ import annotations

import os
import re

_POSIX = os.sep == "/"  # on Windows the backslash is the separator: escapes are not undone
_ESCAPE = re.compile(rb"\\(\\|x[0-9a-f]{2})")


def stored_path(path: str | os.PathLike[str]) -> str:
    """The catalog's (printable, reversible) text for a path on disk."""
    text = os.fspath(path)
    if "\\" in text and _POSIX:
        text = text.replace("\\", "\\\\")
    else:
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            pass
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def real_path(stored: str) -> str:
    """The path on disk that :func:`stored_path` turned into ``stored``."""
    if "\\" not in stored or not _POSIX:
        return stored
    raw = _ESCAPE.sub(lambda m: b"\\" if m[1] == b"\\" else bytes([int(m[1][1:], 16)]),
                      stored.encode("utf-8"))
    return os.fsdecode(raw)


def printable(text: str) -> str:
    """``text`` with any byte that was not UTF-8 (a lone surrogate from a file name)
    written as ``\\xNN``, so SQLite and a terminal take it; for display only."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file name makes (from JSON's \\ud800, say)
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")
