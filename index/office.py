"""Office documents: PDF (its text layer) and Word .docx, with their title and author."""

from __future__ import annotations

import io
import logging
import time
from html.entities import name2codepoint
from pathlib import Path

from index.archives import DEFAULT_LIMIT, ZIP_ERRORS, repack
from index.documents import Document, Skip, error_summary
from index.markup import MAX_PARSE_SECONDS


def parse_pdf(path: Path, data: bytes, max_bytes: int = DEFAULT_LIMIT) -> list[Document]:
    """One document from a PDF's text layer; a scan without one is skipped.

    A PDF's streams are compressed like a ZIP's members, so each is bounded the same way:
    no stream may unpack to more than ``max_bytes`` (pypdf counts while it inflates), the
    pages' text stops growing past it, and reading stops after MAX_PARSE_SECONDS.
    """
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError

    # pypdf logs every repaired flaw of a file; the skip reason is all the user needs.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        with apply_configuration(**_pdf_limits(max_bytes)):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                _decrypt(reader)
            pages = _page_texts(reader, max_bytes)
            meta = reader.metadata
            title = _clean(meta.title) if meta else ""
            author = _clean(meta.author) if meta else ""
    except Skip:
        raise
    except LimitReachedError as exc:
        raise Skip(f"a PDF stream unpacks past a limit ({error_summary(exc)}); raise max_file_mb "
                   "to index it") from None
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise Skip(f"broken PDF ({error_summary(exc)})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise Skip("PDF without a text layer")
    return [Document(path=str(path), text=text, title=title or path.stem, author=author)]


def _pdf_limits(max_bytes: int) -> dict[str, int]:
    """pypdf's limits on what one stream may unpack to, at ``max_bytes``."""
    names = ("maximum_declared_stream_length", "array_based_stream_maximum_output_length",
             "zlib_maximum_output_length", "lzw_maximum_output_length",
             "run_length_maximum_output_length", "brotli_maximum_output_length",
             "jbig2_maximum_output_length", "image_maximum_buffer_size")
    return {name: max_bytes for name in names} | {"stream_decoding_work_maximum_length": 4 * max_bytes}


def _page_texts(reader, max_bytes: int) -> list[str]:
    """Each page's text until the text passes ``max_bytes`` characters; Skip after
    MAX_PARSE_SECONDS (pypdf bounds the work of each page, not of all of them)."""
    deadline = time.monotonic() + MAX_PARSE_SECONDS
    texts: list[str] = []
    total = 0
    for page in reader.pages:
        if time.monotonic() > deadline:
            raise Skip(f"took longer than {MAX_PARSE_SECONDS:.0f} s to read")
        texts.append(page.extract_text() or "")
        total += len(texts[-1])
        if total > max_bytes:  # more than max_text_chars could ever keep
            break
    return texts


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
        _inline_entities(document.element)
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


def _inline_entities(root) -> None:
    """Replace each entity reference left in the tree by its character (HTML's named
    ones) or by nothing, keeping the text after it.

    python-docx parses without resolving entities (no XXE, no billion laughs), so a
    reference declared in a DOCTYPE stays a node whose following text is its tail, and
    a paragraph's text would stop at it.
    """
    from lxml import etree

    for entity in list(root.iter(etree.Entity)):
        text = (chr(name2codepoint[entity.name]) if entity.name in name2codepoint else "") + (entity.tail or "")
        parent, previous = entity.getparent(), entity.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + text
        else:
            parent.text = (parent.text or "") + text
        parent.remove(entity)


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
