"""Reading documents from disk into text with a title and author.

A file that cannot be read raises ``Skip`` with a short reason; the ingest
loop records it and goes on, so one bad file never stops a run.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = (".txt", ".md")


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


def check_supported(path: Path) -> None:
    """Raise Skip unless Lira can read files of this type."""
    if path.suffix.lower() not in TEXT_SUFFIXES:
        raise Skip(f"unsupported type '{path.suffix or path.name}'")


def parse_documents(path: Path, data: bytes) -> list[Document]:
    """Turn a supported file's bytes into documents, or raise Skip."""
    text = decode_text(data).strip()
    if not text:
        raise Skip("no text")
    title = _markdown_title(text) if path.suffix.lower() == ".md" else ""
    return [Document(path=str(path), text=text, title=title or path.stem)]


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, or Skip if it is empty, too large or unreadable."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise Skip(f"larger than the size limit ({size / 2**20:.1f} MB)")
        if size == 0:
            raise Skip("empty file")
        return path.read_bytes()
    except PermissionError:
        raise Skip("permission denied") from None
    except FileNotFoundError:
        raise Skip("vanished while reading") from None
    except OSError as exc:
        raise Skip(f"unreadable ({exc.strerror or exc})") from None


def decode_text(data: bytes) -> str:
    """Decode bytes whose encoding is unknown (UTF-8/16, cp1251, koi8-r...).

    BOMs and valid UTF-8 are trusted first because detectors sometimes call
    short UTF-8 texts something else; the rest goes to charset-normalizer.
    """
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:8192]:
        raise Skip("binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return _detect_cyrillic(data) or _detect_any(data)


# Legacy encodings of Russian text; general detection mistakes short koi8-r
# for Japanese, so these are tried first and kept if the result reads as Cyrillic.
_CYRILLIC_ENCODINGS = ["cp1251", "koi8_r", "cp866", "mac_cyrillic"]


def _detect_cyrillic(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=_CYRILLIC_ENCODINGS).best()
    if best is None or best.chaos > 0.2:
        return None
    text = str(best)
    letters = [c for c in text if c.isalpha()]
    cyrillic = sum("\u0400" <= c <= "\u04ff" for c in letters)
    return text if letters and cyrillic / len(letters) >= 0.3 else None


def _detect_any(data: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise Skip("undecodable bytes (unknown text encoding)")
    return str(best)


def _markdown_title(text: str) -> str:
    for line in text.splitlines()[:20]:
        if line.startswith("# "):
            return line[2:].strip()
    return ""
