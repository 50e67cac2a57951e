"""Cutting a text file that holds a whole collection of poems into poems.

Collections such as Blok's "Стихотворения. Книга первая" are one long text:
each poem opens with a heading after a blank line ("* * *", a title in
capitals, a roman or arabic numeral of a cycle) and most end with a date
line ("Январь 1898. С.-Петербург").  The rule:

* a poem starts at a heading that follows a blank line, or at the first line
  after a date line and a blank line (a poem whose heading got lost);
* undated pieces with fewer than four lines of verse, or with a span of
  years such as "(1904 - 1905)", are headings of a section or cycle (with its
  epigraph) and go in front of the next poem; undated pieces that start
  right after a date are footnotes or places of the poem before;
* tables of contents (СОДЕРЖАНИЕ, lists of quoted first lines) and undated
  front matter before the first poem are dropped;
* the title is the poem's own heading; for "* * *" it is the first line of
  verse (as Russian tables of contents name such poems), for a numeral it is
  the cycle's title and the numeral; the year is the one in the date line.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

_MONTH = (r"(?i:январ|феврал|март|апрел|ма[йяе]|июн|июл|август|сентябр|октябр|ноябр|декабр"
          r"|весн|лет|осен|зим)[а-яё]*")
_YEAR = r"(1[5-9]\d\d|20\d\d)"
_WHEN = rf"(?:\d{{1,2}}(?:\s*[-–—]\s*\d{{1,2}})?\s*(?:\(\?\)\s*)?)?(?:{_MONTH}\s*)?(?:\(\?\)\s*)?"
# "1898", "Май 1898", "21 июля 1898. С. Шахматово", "Сентябрь (?) 1898", "3-8 июня 1899",
# "Декабрь 1900 - январь 1901", "<10 ноября 1903>", "3 июня 1903 Bad Nauheim"
_DATE = re.compile(rf"^<?(?:{_WHEN}(?:{_YEAR}\s*)?[-–—]\s*)?{_WHEN}\.?\s*{_YEAR}(?:\s*\(\?\))?"
                   r"(?:\s*(?i:г\.?|года?))?>?(?:[.,]?\s*[A-ZА-ЯЁ].{0,40})?\.?$")
_STARS = re.compile(r"^(?:\*\s*){3,}$")
_NUMERAL = re.compile(r"^(?:[IVXLCІХ]+|\d{1,3})\.?$")
_YEAR_RANGE = re.compile(r"^\(\s*\d{4}[\s\d\-–—,]*\)$")
_TOC_HEAD = re.compile(r"^(?:содержание|состав|оглавление)\b", re.IGNORECASE)
_TOC_ENTRY = re.compile(r"^(?:#?\d+\.?\s+)*[\"«]|\([\"«]")
_VERSE_MIN = 4
_EPIGRAPH_INDENT = 8  # dedications and epigraphs sit this much deeper than the verse
_MAX_YEAR_LINE = 70


@dataclass(frozen=True)
class Poem:
    """One poem cut out of a collection."""

    title: str
    text: str
    year: int | None


def is_collection(text: str) -> bool:
    """Whether a poem file holds many poems: several "* * *" headings or dates."""
    stars = dates = 0
    for line in text.splitlines():
        s = line.strip()
        stars += bool(_STARS.match(s))
        dates += _is_date(s)
        if stars >= 3 or dates >= 3:
            return True
    return False


def date_line_year(text: str) -> int | None:
    """The year of a poem's first date line ("Январь 1918"), if it has one."""
    return _year(text.splitlines())


def split_poems(text: str) -> list[Poem]:
    """The poems of a collection, in order (empty if none could be found)."""
    pieces = _pieces(text.splitlines())
    poems: list[tuple[list[str], list[str]]] = []  # (section headings in front, the poem)
    pending: list[str] = []
    in_toc = False
    for n, (after_date, piece) in enumerate(pieces):
        kind = _classify(piece, after_date)
        # A table of contents runs on over its undated entries; a section title may end it.
        in_toc = kind == "toc" or in_toc and not any(_is_date(s.strip()) for s in piece)
        if (in_toc and kind != "heading") or (n == 0 and _is_front_matter(piece)):
            pending = []
        elif kind == "footnote" and poems:
            poems[-1][1].extend(piece)
        elif kind in ("heading", "footnote"):
            pending.extend(piece)
        else:
            poems.append((pending, piece))
            pending = []
    if pending and poems:
        poems[-1][1].extend(pending)
    return _named(poems)


def _pieces(lines: list[str]) -> list[tuple[bool, list[str]]]:
    """Cut at poem starts; each piece says whether it was started by a date."""
    starts: list[tuple[int, bool]] = []
    blank_before, after_date = True, False
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            blank_before = True
            continue
        if blank_before and (_is_heading(s) or after_date):
            starts.append((i, after_date and not _is_heading(s)))
        after_date = _is_date(s)
        blank_before = False
    if not starts or starts[0][0] > 0:
        starts.insert(0, (0, False))
    bounds = starts + [(len(lines), False)]
    return [(by_date, lines[a:b]) for (a, by_date), (b, _) in zip(bounds, bounds[1:])]


def _is_front_matter(piece: list[str]) -> bool:
    """Undated text before the first heading: a collection's title page."""
    filled = [s.strip() for s in piece if s.strip()]
    return bool(filled) and not _is_heading(filled[0]) and not any(_is_date(s) for s in filled)


def _classify(piece: list[str], after_date: bool) -> str:
    """'toc', 'heading' (section or cycle title), 'footnote' or 'poem'."""
    filled = [s.strip() for s in piece if s.strip()]
    if not filled:
        return "heading"
    dated = any(_is_date(s) for s in filled)
    body = [s for s in filled if not (_is_heading(s) or _is_date(s) or _YEAR_RANGE.match(s))]
    if not dated and (_TOC_HEAD.match(filled[0])
                      or len(body) >= 3 and sum(bool(_TOC_ENTRY.search(s)) for s in body) >= 0.4 * len(body)):
        return "toc"
    if not dated and after_date:
        return "footnote"
    if not dated and (len(body) < _VERSE_MIN or any(_YEAR_RANGE.match(s) for s in filled)):
        return "heading"
    return "poem"


def _named(poems: list[tuple[list[str], list[str]]]) -> list[Poem]:
    result: list[Poem] = []
    cycle = ""
    for front, piece in poems:
        headings, first_body = _leading_headings(piece)
        own = piece[headings[-1]].strip() if headings else ""
        if _NUMERAL.match(own):
            # A numbered part: its cycle's title is the last one set in capitals before it.
            titles = [piece[i].strip() for i in headings[:-1]] or [
                s.strip() for s in front if _is_caps_title(s.strip())]
            cycle = titles[-1] if titles and _is_caps_title(titles[-1]) else cycle
            title = f"{cycle}. {own}" if cycle else _first_line(piece, first_body)
        else:
            cycle = ""
            title = own if own and not _STARS.match(own) else _first_line(piece, first_body)
        kept = front + [line for i, line in enumerate(piece) if not headings or i != headings[-1]]
        text = textwrap.dedent("\n".join(kept)).strip("\n")
        if text.strip():
            result.append(Poem(title=_tidy(title), text=text, year=_year(piece)))
    return result


def _leading_headings(piece: list[str]) -> tuple[list[int], int]:
    """Indexes of the headings before the first line of verse, and that line's index."""
    headings = []
    for i, line in enumerate(piece):
        s = line.strip()
        if not s or _YEAR_RANGE.match(s):
            continue
        if not _is_heading(s):
            return headings, i
        headings.append(i)
    return headings, len(piece)


def _first_line(piece: list[str], start: int) -> str:
    """The first line of verse, passing over dedications and epigraphs set deeper."""
    body = [line for line in piece[start:] if not _is_date(line.strip())]
    filled = [line for line in body if line.strip()]
    if not filled:
        return ""
    margin = min(_indent(line) for line in filled)
    paragraph: list[str] = []
    for line in body + [""]:
        if line.strip():
            paragraph.append(line)
        elif paragraph:
            if any(_indent(x) < margin + _EPIGRAPH_INDENT for x in paragraph):
                return paragraph[0].strip()
            paragraph = []
    return filled[0].strip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _tidy(title: str) -> str:
    title = re.sub(r"\s+", " ", title).strip(" ,;:-—–")
    return title[:-1] if title.endswith(".") and not title.endswith("..") else title


def _year(piece: list[str]) -> int | None:
    for line in piece:
        s = line.strip()
        if _is_date(s):
            return int(next(y for y in _DATE.match(s).groups() if y))
    return None


def _is_date(s: str) -> bool:
    # A date set in capitals ("31 ДЕКАБРЯ 1900 ГОДА") is a poem's title, not its date line.
    return (0 < len(s) <= _MAX_YEAR_LINE and bool(_DATE.match(s))
            and not (re.search(r"[^\W\d_]{3}", s) and s.upper() == s))


def _is_heading(s: str) -> bool:
    return bool(_STARS.match(s) or _NUMERAL.match(s) or _is_caps_title(s))


def _is_caps_title(s: str) -> bool:
    """A line set in capitals: "ЛЕТНИЙ ВЕЧЕР", "1. РАБОЧИЕ НА РЕЙДЕ", "НОЧНАЯ ФИАЛКА. Сон"."""
    letters = [c for c in s if c.isalpha()]
    if len(s) > 90 or not re.search(r"[^\W\d_]{3}", s) or _is_date(s):
        return False
    return sum(c.isupper() for c in letters) >= 0.75 * len(letters)
