"""HTML pages (and the XHTML inside e-books) into plain text with a title and author."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from index.charsets import decode_text
from index.documents import Document, Skip

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

# Elements that never hold reading text.
_DROPPED = ["script", "style", "noscript", "template", "svg", "nav", "iframe", "object"]
# Blocks are set apart by a blank line, list items and rows by a line break.
_BLOCKS = ["p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "dl",
           "table", "section", "article", "header", "footer", "aside", "figure", "address",
           "main", "hr", "form", "fieldset", "body"]
_LINES = ["li", "tr", "dt", "dd", "caption", "figcaption"]
_CELLS = ["td", "th"]


def parse_html(path: Path, data: bytes) -> list[Document]:
    """One document from an HTML page: <title> (or the first <h1>) and <meta name=author>."""
    soup = html_soup(data)
    title = _text_of(soup.title) or _text_of(soup.find("h1"))
    author = ""
    for meta in soup.find_all("meta"):
        if str(meta.get("name", "")).strip().lower() in ("author", "dc.creator"):
            author = " ".join(str(meta.get("content", "")).split())
            break
    text = html_text(soup)
    if not text:
        raise Skip("no text")
    return [Document(path=str(path), text=text, title=title or path.stem, author=author)]


def html_soup(data: bytes) -> BeautifulSoup:
    """Parse HTML bytes, trusting a declared charset and guessing (Cyrillic first) otherwise."""
    from bs4 import BeautifulSoup
    from bs4.dammit import EncodingDetector

    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    text = None
    if declared:
        try:
            text = data.decode(declared, errors="replace")
        except LookupError:  # a charset name Python does not know
            text = None
    if text is None:
        text = decode_text(data)
    return BeautifulSoup(text, "lxml")


def html_text(soup: BeautifulSoup) -> str:
    """The readable text of a parsed page: one line per line, a blank line between blocks."""
    for tag in soup(_DROPPED):
        tag.decompose()
    if soup.head:
        soup.head.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n\n")
        tag.append("\n\n")
    for tag in soup.find_all(_LINES):
        tag.append("\n")
    for tag in soup.find_all(_CELLS):
        tag.append(" \t ")
    lines = [" ".join(line.split()) for line in soup.get_text().split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _text_of(tag) -> str:
    return " ".join(tag.get_text(" ").split()) if tag else ""
