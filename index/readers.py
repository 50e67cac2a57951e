"""Reading documents from disk into text with a title and author.

This module decides by a file's name which reader turns its bytes into
documents: plain text and Markdown here, the other formats in their own
modules (``markup``, ``ebooks``, ``office``, ``poem_corpora``, ``ruslit``).
A file that cannot be read raises ``Skip`` with a short reason; the ingest
loop records it and goes on, so one bad file never stops a run.
"""

from __future__ import annotations

from pathlib import Path

from index.archives import DEFAULT_LIMIT
from index.charsets import decode_text
from index.documents import Document, Skip, clean_text
from index.ebooks import parse_epub, parse_fb2
from index.markup import parse_html
from index.office import parse_docx, parse_pdf
from index.poem_corpora import parse_poem_corpus
from index.ruslit import parse_ruslit

__all__ = ["Document", "Skip", "LAYOUTS", "SUFFIXES", "check_supported", "decode_text",
           "parse_documents", "read_bytes"]

TEXT_SUFFIXES = (".txt", ".md")
# .xml, .json and .jsonl are read only when they hold a poem corpus (see poem_corpora).
SUFFIXES = TEXT_SUFFIXES + (".html", ".htm", ".fb2", ".fb2.zip", ".epub", ".pdf", ".docx",
                            ".xml", ".json", ".jsonl")
LAYOUTS = ("auto", "ruslit")


def check_supported(path: Path) -> None:
    """Raise Skip unless Lira can read files of this type."""
    if _suffix(path) not in SUFFIXES:
        raise Skip(f"unsupported type '{path.suffix or path.name}'")


def parse_documents(path: Path, data: bytes, layout: str = "auto",
                    max_bytes: int = DEFAULT_LIMIT) -> list[Document]:
    """Turn a supported file's bytes into documents, or raise Skip.

    ``layout`` says how plain text files are laid out: "auto" reads a file
    as one document named after the file, "ruslit" expects an author and a
    title line on top and years in info.csv (see ``index.ruslit``).
    ``max_bytes`` bounds what an archive (.epub, .docx, .fb2.zip) or a PDF's
    stream may unpack to, counted while it inflates (see ``index.archives``).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r} (expected one of {', '.join(LAYOUTS)})")
    suffix = _suffix(path)
    if suffix in (".html", ".htm"):
        docs = parse_html(path, data)
    elif suffix in (".fb2", ".fb2.zip"):
        docs = parse_fb2(path, data, max_bytes)
    elif suffix == ".epub":
        docs = parse_epub(path, data, max_bytes)
    elif suffix == ".pdf":
        docs = parse_pdf(path, data, max_bytes)
    elif suffix == ".docx":
        docs = parse_docx(path, data, max_bytes)
    elif suffix in (".xml", ".json", ".jsonl"):
        docs = parse_poem_corpus(path, data)
    elif suffix == ".txt" and layout == "ruslit":
        docs = parse_ruslit(path, decode_text(data))
    elif suffix in TEXT_SUFFIXES:
        docs = _parse_text(path, data)
    else:
        raise Skip(f"unsupported type '{path.suffix or path.name}'")
    for doc in docs:  # a stray NUL or escape sequence in any format is no text
        doc.text = clean_text(doc.text)
        doc.title, doc.author = (" ".join(clean_text(v).split()) for v in (doc.title, doc.author))
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise Skip("no text")
    return docs


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


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fb2.zip" if name.endswith(".fb2.zip") else path.suffix.lower()


def _parse_text(path: Path, data: bytes) -> list[Document]:
    text = decode_text(data).strip()
    if not text:
        raise Skip("no text")
    title = _markdown_title(text) if path.suffix.lower() == ".md" else ""
    return [Document(path=str(path), text=text, title=title or path.stem)]


def _markdown_title(text: str) -> str:
    for line in text.splitlines()[:20]:
        if line.startswith("# "):
            return line[2:].strip()
    return ""
