"""Office documents: PDF (its text layer) and Word .docx, with their title and author."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from index.archives import DEFAULT_LIMIT, ZIP_ERRORS, repack
from index.documents import Document, Skip, error_summary


def parse_pdf(path: Path, data: bytes) -> list[Document]:
    """One document from a PDF's text layer; a scan without one is skipped."""
    from pypdf import PdfReader

    # pypdf logs every repaired flaw of a file; the skip reason is all the user needs.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            _decrypt(reader)
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata
        title = _clean(meta.title) if meta else ""
        author = _clean(meta.author) if meta else ""
    except Skip:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise Skip(f"broken PDF ({error_summary(exc)})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise Skip("PDF without a text layer")
    return [Document(path=str(path), text=text, title=title or path.stem, author=author)]


def parse_docx(path: Path, data: bytes, max_bytes: int = DEFAULT_LIMIT) -> list[Document]:
    """One document from a Word file: paragraphs and tables in order, core title and author.

    python-docx unpacks every part whole, so it reads a copy whose parts were counted while
    they inflated: a file that unpacks to more than ``max_bytes`` is skipped before it starts.
    """
    import docx
    from docx.table import Table

    try:
        data = repack(data, max_bytes)
    except ZIP_ERRORS as exc:
        raise Skip(f"broken DOCX ({error_summary(exc)})") from None
    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.extend(_table_rows(block))
                lines.append("")
            else:
                lines.append(block.text.strip())
        props = document.core_properties
        title, author = _clean(props.title), _clean(props.author)
    except Exception as exc:  # not a zip, no word/document.xml, bad XML...
        raise Skip(f"broken DOCX ({error_summary(exc)})") from None
    text = "\n".join(lines).strip()
    if not text:
        raise Skip("no text")
    return [Document(path=str(path), text=text, title=title or path.stem, author=author)]


def _decrypt(reader) -> None:
    """Open a PDF that is encrypted with an empty user password, as many are."""
    try:
        if reader.decrypt(""):
            return
    except Exception:  # pypdf needs an extra package for AES; either way we cannot read it
        pass
    raise Skip("encrypted PDF (a password is needed)")


def _table_rows(table) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):  # merged cells repeat their text
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows


def _clean(value) -> str:
    return " ".join(str(value).split()) if value else ""
