"""The RusLit folder layout: ``<kind>/<Author>/<Title>.txt`` with an ``info.csv``.

Each text opens with its author ("Александр Пушкин", "Л. Н. Толстой",
"Валерий Брюсов. Бемоль") and its title ("ЗИМНЕЕ УТРО", "* * *"); both are
taken out of the text.  A file that lacks the author line gets the author
the other files of its folder agree on, and a first line only counts as an
author if it names that same person, so a title such as "Тарас Бульба" or a
dedication is not mistaken for one.  The year comes from ``info.csv``
(``name,year``) beside the file or in a parent folder.  Under a ``poems``
folder every file is a poem, and a file holding a whole collection (Blok's
"Стихотворения. Книга первая") is cut into its poems.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path

from index.charsets import decode_text
from index.documents import Document, Skip
from index.poem_split import date_line_year, is_collection, split_poems

POEM_FOLDERS = {"poems", "poetry", "стихи", "стихотворения"}

_WORD = r"(?:[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?|[А-ЯЁ]{2,}(?:-[А-ЯЁ]{2,})?)"
_PERSON = rf"(?:(?:[А-ЯЁ]\.\s*){{1,2}}{_WORD}|{_WORD}(?:\s+{_WORD}){{1,2}})"
_AUTHOR_LINE = re.compile(rf"^({_PERSON})\.?$")
_AUTHOR_AND_TITLE = re.compile(rf"^({_PERSON})\.\s+(\S.*)$")
_STARS = re.compile(r"^(?:\*\s*){3,}$")
_HEAD_LINES = 6  # the author and title sit within the first few non-blank lines
_SIBLINGS = 200  # files read to learn a folder's author
_INFO_DEPTH = 4  # folders searched upwards for info.csv
_AGREEMENT = 0.8  # share of a folder's author lines that must name the same person


def parse_ruslit(path: Path, text: str) -> list[Document]:
    """Documents of one RusLit text file (several when it is a collection of poems)."""
    lines = text.splitlines()
    folder = _folder_author(path.parent, _mtime(path.parent))
    head = [i for i, line in enumerate(lines) if line.strip()][:_HEAD_LINES]
    if not head:
        raise Skip("no text")
    poem = is_poem_path(path)
    collection = poem and is_collection(text)
    author, title, cut = _head(lines, head, path.stem, folder, collection)
    body = "\n".join(lines[cut:]).strip("\n")
    if not body.strip():
        raise Skip("no text")
    author = folder[1] if folder else author
    title = title or path.stem
    year = info_year(path, title)
    if collection:
        poems = split_poems(body)
        if len(poems) > 1:
            return [Document(path=str(path), text=p.text, title=p.title, author=author,
                             year=p.year or year, part=n, kind="poem") for n, p in enumerate(poems)]
    if poem and year is None:
        year = date_line_year(body)  # a poem's own date line ("Январь 1918")
    return [Document(path=str(path), text=body, title=title, author=author, year=year,
                     kind="poem" if poem else "text")]


def is_poem_path(path: Path) -> bool:
    """Whether a file lies under a folder of poems ("poems", "стихи"...)."""
    return any(p.name.casefold() in POEM_FOLDERS for p in path.parents)


def info_year(path: Path, title: str) -> int | None:
    """The year info.csv gives for this file (by its title or file name), if any."""
    keys = {_key(path.stem), _key(title)}
    folder = path.parent
    for _ in range(_INFO_DEPTH):
        csv_path = folder / "info.csv"
        if csv_path.is_file():
            years = _info_years(csv_path, _mtime(csv_path))
            for key in keys:
                if key in years:
                    return years[key]
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def _head(lines: list[str], head: list[int], stem: str, folder: tuple[str, str] | None,
          collection: bool) -> tuple[str, str, int]:
    """(author, title, index of the first line of the text proper)."""
    first = lines[head[0]].strip()
    both = _AUTHOR_AND_TITLE.match(first)
    if both and _names(both.group(1), folder, stem):
        return _tidy_person(both.group(1)), _title([both.group(2)], stem), head[0] + 1
    if _AUTHOR_LINE.match(first) and _names(first, folder, stem):
        author, rest = _tidy_person(first), head[1:]
    else:
        author, rest = "", head
    if not rest:
        return author, "", head[0] + 1
    candidate = lines[rest[0]].strip()
    # A collection's own title is a plain line; a heading there already belongs to its first poem.
    if collection and (not author or _is_title_line(candidate)):
        return author, "", rest[0]
    if not author and not (_STARS.match(candidate) or _same_title(candidate, stem)):
        return "", "", 0  # without an author line only the file's own title counts as one
    # A title in capitals may run over several lines ("СКАЗКА" / "О ЗОЛОТОМ ПЕТУШКЕ").
    title_lines = [candidate]
    end = rest[0] + 1
    while (end < len(lines) and lines[end].strip() and _is_caps(lines[end])
           and _key(stem).startswith(_key(" ".join(title_lines + [lines[end]])))):
        title_lines.append(lines[end].strip())
        end += 1
    return author, _title(title_lines, stem), end


def _names(line: str, folder: tuple[str, str] | None, stem: str) -> bool:
    """Whether an author-shaped line names the author (and is not the title itself)."""
    if _key(line) == _key(stem):
        return False
    return folder is None or folder[0] in _person_words(line)


def _title(title_lines: list[str], stem: str) -> str:
    """The title as written, or the file name when that says the same more readably."""
    title = " ".join(title_lines)
    if _STARS.match(title) or not _key(title):
        return stem
    if _is_caps(title) and _same_title(title, stem):
        return stem
    return title[:-1] if title.endswith(".") and not title.endswith("..") else title


def _same_title(line: str, stem: str) -> bool:
    """Whether a line is the file's title, perhaps shortened or with a note mark ("АНЧАР 1")."""
    line_key, stem_key = _key(line), _key(stem)
    return bool(line_key) and (stem_key.startswith(line_key) or line_key.startswith(stem_key))


def _is_title_line(line: str) -> bool:
    return bool(_STARS.match(line) or (_is_caps(line) and len(line) <= 120))


def _is_caps(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 1 and all(c.isupper() for c in letters)


def _tidy_person(line: str) -> str:
    line = re.sub(r"\s+", " ", line.strip().rstrip("."))
    return line.title() if _is_caps(line) else line


def _person_words(line: str) -> set[str]:
    """Lower-cased names in an author line, initials left out."""
    return {w for w in re.findall(r"[а-яё]{2,}", _key(line))}


def _key(text: str) -> str:
    """Text reduced for matching: lower case, no accents (е for ё), letters and digits only."""
    text = unicodedata.normalize("NFD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.findall(r"[^\W_]+", text))


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=64)
def _folder_author(folder: Path, mtime: int) -> tuple[str, str] | None:
    """(surname, full name) that the texts of a folder agree on, or None.

    ``mtime`` keys the cache, so adding or removing a file reads the folder again.
    """
    found: list[str] = []
    try:
        siblings = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".txt")[:_SIBLINGS]
    except OSError:
        return None
    for sibling in siblings:
        line = _first_line(sibling)
        match = _AUTHOR_LINE.match(line) or _AUTHOR_AND_TITLE.match(line)
        if match and _key(match.group(1)) != _key(sibling.stem):
            found.append(match.group(1))
    words = Counter(w for name in found for w in _person_words(name))
    if not words:
        return None
    # Of the names every line shares, the one that comes last is the surname, not "Александр".
    last = Counter(_key(name).split()[-1] for name in found)
    surname = max(words, key=lambda w: (words[w], last[w]))
    # A folder of one author: a stray line ("СЫНУ МОЕМУ АЛЕКСАНДРУ") is allowed, a second author is not.
    if words[surname] < 2 or words[surname] < _AGREEMENT * len(found):
        return None
    names = Counter(_tidy_person(n) for n in found if surname in _person_words(n))
    return surname, names.most_common(1)[0][0]


def _first_line(path: Path) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(2048)
    except OSError:
        return ""
    # Cut at a line end so that no multi-byte letter is split.
    data = data.rsplit(b"\n", 1)[0] if b"\n" in data else data
    try:
        text = decode_text(data)
    except Skip:
        return ""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


@lru_cache(maxsize=64)
def _info_years(csv_path: Path, mtime: int) -> dict[str, int]:
    """{normalised name: first year} from an info.csv with name,year columns."""
    try:
        text = decode_text(csv_path.read_bytes())
    except (OSError, Skip):
        return {}
    years: dict[str, int] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2 or [c.strip().lower() for c in row] == ["name", "year"]:
            continue
        # Names with a comma are not always quoted: the year is the last field.
        name, match = ",".join(row[:-1]), re.search(r"\d{4}", row[-1])
        if _key(name) and match:
            years.setdefault(_key(name), int(match.group()))
    return years
