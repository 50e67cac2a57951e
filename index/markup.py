"""HTML pages (and the XHTML inside e-books) into plain text with a title and author.

A page is read in one streaming pass: lxml's HTML parser calls a target object for each
tag, string and comment, and the target writes the text as it goes, so the work grows
with the size of the page and not with how deeply its elements nest (the old tree walk
took 18 s for 16,000 nested <div>s). The text is what BeautifulSoup's tree gave before:
blocks set apart by a blank line, list items and rows by a line break, cells by a tab.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from index.charsets import decode_text
from index.documents import Document, Skip

# Elements nested deeper than this are read as plain text: their words are kept, their line and
# paragraph breaks become spaces (scripts and styles in them are still dropped). Real pages nest a few
# dozen levels; a page nested thousands of levels deep is broken or hostile.
MAX_DEPTH = 512
# A page that takes longer than this to read is skipped (a bound on parse time whatever the input;
# reading runs at tens of MB a second, so only a page far over the size limit comes near it).
MAX_PARSE_SECONDS = 60.0

# Elements that never hold reading text.
_DROPPED = frozenset(["script", "style", "noscript", "template", "svg", "nav", "iframe", "object"])
# Blocks are set apart by a blank line, list items and rows by a line break.
_BLOCKS = frozenset(["p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "dl",
                     "table", "section", "article", "header", "footer", "aside", "figure", "address",
                     "main", "hr", "form", "fieldset", "body"])
_LINES = frozenset(["li", "tr", "dt", "dd", "caption", "figcaption"])
_CELLS = frozenset(["td", "th"])
_AFTER = {**dict.fromkeys(_BLOCKS, "\n\n"), **dict.fromkeys(_LINES, "\n"), **dict.fromkeys(_CELLS, " \t ")}
# Strings in these are never text, not even a title's: ruby annotations and what _DROPPED drops
# for other reasons (BeautifulSoup gave them string classes of their own and left them out).
_NOT_TEXT = frozenset(["rt", "rp", "script", "style", "template"])
# Inside these a string of spaces stays as it is; elsewhere it shrinks to one space or line break.
_PRESERVED = frozenset(["pre", "textarea"])
_SPACES = frozenset(" \n\t\f\r")
_CHECK_EVERY = 1024  # parser events between looks at the clock
# A DOCTYPE up to the "[" that opens its internal subset.
_DOCTYPE_SUBSET = re.compile(r"<!doctype[^>\[]{0,512}\[", re.IGNORECASE)


@dataclass
class Page:
    """What one pass over a page found: its <title>, first <h1>, author and text."""

    title: str
    h1: str
    author: str
    text: str


def parse_html(path: Path, data: bytes) -> list[Document]:
    """One document from an HTML page: <title> (or the first <h1>) and <meta name=author>."""
    page = read_page(data)
    if not page.text:
        raise Skip("no text")
    return [Document(path=str(path), text=page.text, title=page.title or page.h1 or path.stem,
                     author=page.author)]


def read_page(data: bytes) -> Page:
    """Read HTML bytes, trusting a declared charset and guessing (Cyrillic first) otherwise."""
    from bs4.dammit import EncodingDetector
    from lxml import etree

    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    text = None
    if declared:
        try:
            text = data.decode(declared, errors="replace")
        except (LookupError, ValueError):  # a charset name Python does not know (or with a NUL in it)
            text = None
    if text is None:
        text = decode_text(data)
    text = _without_internal_subsets(text.removeprefix("\ufeff"))
    reader = _PageReader()
    try:
        parser = etree.HTMLParser(target=reader, recover=True, huge_tree=False)
        parser.feed(text)
        parser.close()
    except (UnicodeDecodeError, LookupError, etree.ParserError):
        reader = _PageReader()  # what BeautifulSoup did when lxml refused a str: parse it as UTF-8
        parser = etree.HTMLParser(target=reader, recover=True, huge_tree=False, encoding="utf-8")
        try:
            parser.feed(text.encode("utf-8", errors="replace"))
            parser.close()
        except etree.LxmlError:
            pass  # an empty page: what was read so far (nothing) is the page
    except etree.LxmlError:
        pass
    return reader.page()


def html_soup(data: bytes) -> Page:
    """A page read from HTML bytes (the name index.ebooks calls it by)."""
    return read_page(data)


def html_text(page: Page) -> str:
    """The readable text of a page: one line per line, a blank line between blocks."""
    return page.text


class _PageReader:
    """An lxml parser target that writes a page's text as the parser reads it.

    lxml calls start/end in nested order for every element (it closes what a page leaves
    open), so a few depth counters say where the parser is; nothing is kept per element.
    """

    def __init__(self) -> None:
        self.out: list[str] = []  # the text, in pieces
        self.pending: list[str] = []  # data since the last tag or comment: one string in the old tree
        self.depth = 0
        self.dropped_at = 0  # depth of the dropped element being skipped, 0 when none
        self.not_text_at = 0  # depth of the <rt>, <script>... whose strings are never text
        self.preserved_at = 0  # depth of the <pre>/<textarea> whose spaces are kept
        self.head_seen = False  # only the first <head> is dropped, as soup.head was
        self.title: list[str] | None = None
        self.title_at = 0
        self.h1: list[str] | None = None
        self.h1_at = 0
        self.author: str | None = None
        self.events = 0
        self.deadline = time.monotonic() + MAX_PARSE_SECONDS

    # lxml target interface

    def start(self, tag: str, attrib) -> None:
        self._flush()
        self._tick()
        self.depth += 1
        depth = self.depth
        if tag == "title" and self.title is None:
            self.title, self.title_at = [], depth
        elif tag == "h1" and self.h1 is None:
            self.h1, self.h1_at = [], depth
        elif tag == "meta" and self.author is None:
            if str(attrib.get("name", "")).strip().lower() in ("author", "dc.creator"):
                self.author = " ".join(str(attrib.get("content", "")).split())
        if tag in _PRESERVED and not self.preserved_at:
            self.preserved_at = depth
        if tag in _NOT_TEXT and not self.not_text_at:
            self.not_text_at = depth
        first_head = tag == "head" and not self.head_seen
        if first_head:
            self.head_seen = True
        if self.dropped_at:
            return
        if tag in _DROPPED or tag == "br" or first_head:
            self.dropped_at = depth
            if tag == "br":
                self.out.append("\n" if depth <= MAX_DEPTH else " ")
        elif tag in _BLOCKS:
            self.out.append("\n\n" if depth <= MAX_DEPTH else " ")

    def end(self, tag: str) -> None:
        self._flush()
        depth = self.depth
        if depth <= 0:
            return
        if self.dropped_at == depth:
            self.dropped_at = 0
        elif not self.dropped_at and tag in _AFTER:
            self.out.append(_AFTER[tag] if depth <= MAX_DEPTH else " ")
        if self.title_at == depth:
            self.title_at = 0
        if self.h1_at == depth:
            self.h1_at = 0
        if self.preserved_at == depth:
            self.preserved_at = 0
        if self.not_text_at == depth:
            self.not_text_at = 0
        self.depth = depth - 1

    def data(self, data: str) -> None:
        self.pending.append(data)

    def comment(self, text: str) -> None:
        self._flush()

    def pi(self, target: str, data: str | None = None) -> None:
        self._flush()

    def doctype(self, *args) -> None:
        self._flush()

    def close(self) -> None:
        self._flush()

    # the rest

    def page(self) -> Page:
        self._flush()
        lines = [" ".join(line.split()) for line in "".join(self.out).split("\n")]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        return Page(title=_words(self.title), h1=_words(self.h1), author=self.author or "", text=text)

    def _flush(self) -> None:
        """End a string: one made of spaces alone shrinks to one line break or space."""
        if not self.pending:
            return
        string = "".join(self.pending)
        self.pending = []
        if not self.preserved_at and _SPACES.issuperset(string):
            string = "\n" if "\n" in string else " "
        if self.not_text_at:
            return
        if self.title_at:
            self.title.append(string)
        if self.h1_at:
            self.h1.append(string)
        if not self.dropped_at:
            self.out.append(string)

    def _tick(self) -> None:
        self.events += 1
        if self.events % _CHECK_EVERY == 0 and time.monotonic() > self.deadline:
            raise Skip(f"took longer than {MAX_PARSE_SECONDS:.0f} s to read")


def _words(parts: list[str] | None) -> str:
    return " ".join(" ".join(parts).split()) if parts else ""


def _without_internal_subsets(text: str) -> str:
    """The page with the internal subset of each DOCTYPE taken out.

    ``<!DOCTYPE html [ <!ENTITY x "y"> ]>``: the HTML parser ends the DOCTYPE at the first
    ``>`` and would read the rest of the subset, ``]>`` included, as text. Entities declared
    there are never expanded (a reference stays as it is written). One pass over the text.
    """
    pieces, done = [], 0
    for match in _DOCTYPE_SUBSET.finditer(text):
        if match.start() < done:
            continue  # inside a subset already taken out
        end = _subset_end(text, match.end())
        if end < 0:
            break  # never closed: the parser reads the rest as it is
        pieces.append(text[done:match.end() - 1])
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _subset_end(text: str, i: int) -> int:
    """Where the ``>`` after the subset starting at ``i`` is: past a ``]`` that is not in quotes or
    a comment; -1 when there is none."""
    quote, n = "", len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "<" and text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            if end < 0:
                return -1
            i = end + 2
        elif c == "]":
            end = i + 1
            while end < n and text[end] in " \t\r\n":
                end += 1
            if end < n and text[end] == ">":
                return end
        i += 1
    return -1
