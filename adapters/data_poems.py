"""Poem corpora turned into the seed's poem-writing examples.

Anything ``index`` reads as poems will do: a PoetryCorpus XML or its Django
JSON dump, JSON lines with author/title/text, or a RusLit folder (text files
under a ``poems`` folder that open with an author and a title line).  As in
the seed, poems with no author or no title, and poems longer than a token
limit, are left out (an untitled poem may instead take its first line as its
title, as Russian editions name them: ``first_line_titles``).  The prompt is the seed's template; the answer is the
poem followed by the end marker, so that generation learns where to stop.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from adapters.examples import Example
from adapters.poem_template import END_OF_POEM, build_poem_prompt
from index.documents import Skip
from index.readers import parse_documents

POEM_SUFFIXES = (".xml", ".json", ".jsonl", ".txt")
_HAS_WORD = re.compile(r"\w")


@dataclass
class PoemData:
    """Poem examples, the poems held out, and counts of what was left out and why."""

    examples: list[Example]
    holdout: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    files: int = 0


@dataclass(frozen=True)
class Poem:
    """One poem as the readers found it."""

    author: str
    title: str
    text: str
    path: str
    part: int


def poem_files(path: Path) -> list[Path]:
    """The files under ``path`` (or ``path`` itself) that may hold poems, in a fixed order."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in POEM_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(path).parts))


def read_poems(path: Path) -> tuple[list[Poem], int, int]:
    """Every poem under ``path``: (poems, files read, documents that are not poems)."""
    poems, files, not_poems = [], 0, 0
    for file in poem_files(path):
        try:
            # ruslit only changes how .txt files are read: an author and a title line on top.
            docs = parse_documents(file, file.read_bytes(), layout="ruslit")
        except (Skip, OSError):
            continue
        files += 1
        for doc in docs:
            if doc.kind != "poem":
                not_poems += 1
                continue
            poems.append(Poem(doc.author.strip(), doc.title.strip(), doc.text.strip(),
                              doc.path, doc.part))
    return poems, files, not_poems


def poem_examples(path: Path, count_tokens: Callable[[str], int], max_tokens: int = 600,
                  holdout_per_author: int = 0, max_per_author: int | None = None,
                  seed: int = 42, first_line_titles: bool = False) -> PoemData:
    """Examples in the seed's poem prompt, filtered as the seed did, with a per-author hold-out.

    ``max_per_author`` caps each author's training poems (a seeded sample, in corpus
    order), so that one prolific author does not drown the others' style.
    """
    poems, files, not_poems = read_poems(path)
    data = PoemData(examples=[], files=files,
                    dropped={"not_a_poem": not_poems, "no_author_or_title": 0, "too_long": 0})
    kept = _filtered(poems, count_tokens, max_tokens, data.dropped, first_line_titles)
    held = _held_out(kept, holdout_per_author)
    capped = _over_cap([p for p in kept if id(p) not in held], max_per_author, seed)
    if capped:
        data.dropped["over_max_per_author"] = len(capped)
    for poem in kept:
        if id(poem) in held:
            data.holdout.append({"author": poem.author, "title": poem.title, "path": poem.path,
                                 "part": poem.part})
        elif id(poem) not in capped:
            data.examples.append(Example(prompt=build_poem_prompt(poem.author, poem.title),
                                         answer=poem.text + END_OF_POEM, group=poem.author))
    return data


def holdout_poems(path: Path, count_tokens: Callable[[str], int], max_tokens: int = 600,
                  holdout_per_author: int = 1, first_line_titles: bool = False) -> list[Poem]:
    """The poems ``poem_examples`` keeps out of training with the same settings, with texts."""
    poems, _, _ = read_poems(path)
    kept = _filtered(poems, count_tokens, max_tokens, {"no_author_or_title": 0, "too_long": 0},
                     first_line_titles)
    held = _held_out(kept, holdout_per_author)
    return [poem for poem in kept if id(poem) in held]


def _filtered(poems: list[Poem], count_tokens: Callable[[str], int], max_tokens: int,
              dropped: dict[str, int], first_line_titles: bool = False) -> list[Poem]:
    """The seed's filters: an author, a real title (or, with ``first_line_titles``, the
    first line for one), at most ``max_tokens`` tokens."""
    kept = []
    for poem in poems:
        if first_line_titles and not _HAS_WORD.search(poem.title):
            poem = replace(poem, title=first_line_title(poem.text))
        if not poem.author or not _HAS_WORD.search(poem.title):  # "* * *" is no title
            dropped["no_author_or_title"] += 1
        elif count_tokens(poem.text) > max_tokens:
            dropped["too_long"] += 1
        else:
            kept.append(poem)
    return kept


def first_line_title(text: str) -> str:
    """An untitled poem's name, as editions give it: its first line without the closing
    punctuation ("Я помню чудное мгновенье" for "Я помню чудное мгновенье:")."""
    first = next((line.strip() for line in text.splitlines() if _HAS_WORD.search(line)), "")
    return first.rstrip(" ,;:—–-.!?…")


def _held_out(poems: list[Poem], per_author: int) -> set[int]:
    """The last ``per_author`` poems of every author who has more than that many."""
    if per_author <= 0:
        return set()
    by_author: dict[str, list[Poem]] = defaultdict(list)
    for poem in poems:
        by_author[poem.author].append(poem)
    return {id(p) for group in by_author.values() if len(group) > per_author
            for p in group[-per_author:]}


def _over_cap(poems: list[Poem], cap: int | None, seed: int) -> set[int]:
    """The poems left out so that no author keeps more than ``cap``: a seeded random choice."""
    if cap is None:
        return set()
    by_author: dict[str, list[Poem]] = defaultdict(list)
    for poem in poems:
        by_author[poem.author].append(poem)
    rng = random.Random(seed)
    return {id(p) for group in by_author.values() if len(group) > cap
            for p in rng.sample(group, len(group) - cap)}
