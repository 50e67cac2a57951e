"""E-books: FictionBook 2 (.fb2, .fb2.zip) and EPUB, with their title, author and year."""

from __future__ import annotations

import io
import re
from pathlib import Path

from index.archives import DEFAULT_LIMIT, ZIP_ERRORS, open_zip, read_member, repack
from index.documents import Document, Skip, error_summary
from index.markup import html_soup, html_text

_FB2_NS = "{http://www.gribuser.ru/xml/fictionbook/2.0}"
# Elements of an FB2 body that hold one line or paragraph of text.
_FB2_LINES = {"p", "v", "subtitle", "text-author", "td", "th"}
# Elements that are set apart from what follows by a blank line.
_FB2_BLOCKS = {"section", "title", "epigraph", "poem", "stanza", "cite", "table", "empty-line"}


def parse_fb2(path: Path, data: bytes, max_bytes: int = DEFAULT_LIMIT) -> list[Document]:
    """One document from a FictionBook file, zipped or not (then no more than ``max_bytes`` unpacked)."""
    name = path.name
    if name.lower().endswith(".zip"):
        data = _unzip_fb2(data, max_bytes)
        name = name[:-4]
    root = _parse_xml(data, "FB2")
    if _local(root.tag) != "FictionBook":
        raise Skip("not a FictionBook file (no <FictionBook> root)")
    info = root.find(f"{_FB2_NS}description/{_FB2_NS}title-info")
    title = author = ""
    year = None
    if info is not None:
        title = _clean(info.findtext(f"{_FB2_NS}book-title") or "")
        author = ", ".join(filter(None, (_fb2_person(a) for a in info.findall(f"{_FB2_NS}author"))))
        date = info.find(f"{_FB2_NS}date")
        if date is not None:
            year = _year(date.get("value") or date.text or "")
    lines: list[str] = []
    for body in root.findall(f"{_FB2_NS}body"):
        if body.get("name") in ("notes", "comments"):
            continue  # footnotes, linked from the text
        _fb2_lines(body, lines)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if not text:
        raise Skip("no text")
    return [Document(path=str(path), text=text, title=title or Path(name).stem, author=author,
                     year=year)]


def parse_epub(path: Path, data: bytes, max_bytes: int = DEFAULT_LIMIT) -> list[Document]:
    """One document from an EPUB: its chapters in reading order, Dublin Core title and author.

    ebooklib unpacks every member whole, so it reads a copy whose members were counted while
    they inflated: an EPUB that unpacks to more than ``max_bytes`` is skipped before it starts.
    """
    import warnings

    import ebooklib
    from ebooklib import epub

    try:
        data = repack(data, max_bytes)
    except ZIP_ERRORS as exc:
        raise Skip(f"broken EPUB ({error_summary(exc)})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ebooklib warns about options it will change
            book = epub.read_epub(io.BytesIO(data), {"ignore_ncx": True})
        order = [book.get_item_with_id(idref) for idref, _linear in book.spine]
        documents = [i for i in order if i is not None and i.get_type() == ebooklib.ITEM_DOCUMENT]
        if not documents:
            documents = list(book.get_items_of_type(ebooklib.ITEM_DOCUMENT))
        parts = [html_text(html_soup(item.get_content())) for item in documents
                 if not isinstance(item, epub.EpubNav)]
        title = _dc(book, "title")
        author = ", ".join(filter(None, (_clean(v) for v, _ in book.get_metadata("DC", "creator"))))
        year = _year(_dc(book, "date"))
    except Skip:
        raise
    except Exception as exc:  # ebooklib raises anything from KeyError to lxml errors on bad files
        raise Skip(f"broken EPUB ({error_summary(exc)})") from None
    text = "\n\n".join(p for p in parts if p).strip()
    if not text:
        raise Skip("no text")
    return [Document(path=str(path), text=text, title=title or path.stem, author=author, year=year)]


def _unzip_fb2(data: bytes, max_bytes: int) -> bytes:
    try:
        with open_zip(data) as archive:
            members = [m for m in archive.infolist() if m.filename.lower().endswith(".fb2")]
            if not members:
                raise Skip("no .fb2 file inside the ZIP archive")
            return read_member(archive, members[0], max_bytes)  # counted, never trusted from the header
    except ZIP_ERRORS as exc:
        raise Skip(f"broken ZIP archive ({error_summary(exc)})") from None


def _parse_xml(data: bytes, what: str):
    from lxml import etree

    # No DTDs, entities or network: a book must not make us fetch or expand anything.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise Skip(f"broken {what} (XML error at line {exc.lineno})") from None


def _fb2_lines(element, lines: list[str]) -> None:
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        name = _local(child.tag)
        if name in _FB2_LINES:
            lines.append(_clean("".join(child.itertext())))
        elif name == "binary":
            continue
        else:
            _fb2_lines(child, lines)
        if name in _FB2_BLOCKS:
            lines.append("")


def _fb2_person(author) -> str:
    parts = [author.findtext(f"{_FB2_NS}{p}") for p in ("first-name", "middle-name", "last-name")]
    name = _clean(" ".join(p for p in parts if p))
    return name or _clean(author.findtext(f"{_FB2_NS}nickname") or "")


def _dc(book, field: str) -> str:
    values = book.get_metadata("DC", field)
    return _clean(values[0][0]) if values and values[0][0] else ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def _year(text: str) -> int | None:
    match = re.search(r"(?<!\d)(1[0-9]\d\d|20\d\d)(?!\d)", text or "")
    return int(match.group(1)) if match else None

