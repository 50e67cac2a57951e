"""What a reader produces: documents, and the exception that skips a file."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Control characters that no text means to hold: NUL padding, terminal escapes, the C1
# range of text decoded with the wrong code page. Tab, newline and CR stay.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]+")


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


def clean_text(text: str) -> str:
    """``text`` without control characters: a run of them becomes one space (none where
    it was only NULs, the padding of a wrong-width encoding), a form feed a newline."""
    text = text.replace("\x0c", "\n")
    return _CONTROLS.sub(lambda m: "" if m.group().strip("\x00") == "" else " ", text)
