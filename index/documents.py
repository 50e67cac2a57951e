"""What a reader produces: documents, and the exception that skips a file."""

from __future__ import annotations

from dataclasses import dataclass


class Skip(Exception):
    """This file is not indexed; the message is the reason shown to the user."""


@dataclass
class Document:
    """One readable unit of a file: its text and what we know about it."""

    path: str
    text: str
    title: str
    author: str = ""
    year: int | None = None
    part: int = 0  # position of this document inside its file (poem corpora hold many)
    kind: str = "text"  # "text" for books and notes, "poem" for one poem


def error_summary(exc: BaseException) -> str:
    """A library's exception in a few words, for a Skip reason ("KeyError: 'word/document.xml'")."""
    message = str(exc).strip()
    message = message.splitlines()[0][:80] if message else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
