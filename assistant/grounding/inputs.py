"""Reading the texts a check is given: answers, sources and claims files."""

from __future__ import annotations

from pathlib import Path

from assistant.grounding.errors import GroundingError
from index.charsets import decode_text
from index.documents import Skip


def read_text(path: Path, what: str) -> str:
    """A text file's content in whatever encoding it has; one-line errors otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise GroundingError(f"no such {what} file: {path}") from None
    except OSError as exc:
        raise GroundingError(f"cannot read {what} file {path} ({exc.strerror or exc})") from None
    try:
        return decode_text(data)
    except Skip as why:
        raise GroundingError(f"{what} file {path} is not text ({why}); give a text file") from None
