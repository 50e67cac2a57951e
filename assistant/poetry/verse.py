"""A poem as stanzas of verse lines of words, each word with its stressed vowel if known."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.poetry import stress

VOWELS = frozenset("аеёиоуыэюя")
_WORD = re.compile(r"(?:[^\W\d_]|\+)+")


@dataclass(frozen=True)
class Word:
    """A lower-case word and the index of its stressed vowel (None: not known)."""

    text: str
    stress: int | None = None

    @property
    def vowels(self) -> list[int]:
        """Indexes of the vowels, one per syllable."""
        return [i for i, c in enumerate(self.text) if c in VOWELS]


@dataclass(frozen=True)
class Verse:
    """One line of verse."""

    words: tuple[Word, ...]


def split_stanzas(text: str) -> list[list[str]]:
    """Non-blank lines grouped into stanzas at blank lines."""
    stanzas, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            stanzas.append(current)
            current = []
    if current:
        stanzas.append(current)
    return stanzas


def parse_poem(text: str, with_stress: bool = True) -> list[list[Verse]]:
    """Stanzas of verses; stress comes from the stress model when it is available.

    Without the model (or with ``with_stress`` False) only hand-typed stress
    marks are known; rhymes then fall back to letters and the metre is unknown.
    """
    stanzas = split_stanzas(text)
    lines = [line for stanza in stanzas for line in stanza]
    marked = _marked_lines(lines, with_stress)
    verses = iter(Verse(tuple(parse_words(line))) for line in marked)
    return [[next(verses) for _ in stanza] for stanza in stanzas]


def _marked_lines(lines: list[str], with_stress: bool) -> list[str]:
    joined = "\n".join(lines)
    if with_stress:
        try:
            return stress.mark_stress(joined).split("\n")
        except stress.StressUnavailable:
            pass  # only hand-typed stress then; `lira poem analyze` says the model is missing
    return stress.prepare(joined).split("\n")


def parse_words(marked: str) -> list[Word]:
    """Words of a line in which '+' precedes stressed vowels."""
    words = []
    for token in _WORD.findall(marked.lower()):
        text = token.replace(stress.MARK, "")
        if text:
            words.append(Word(text, _stress_index(token)))
    return words


def _stress_index(token: str) -> int | None:
    text = token.replace(stress.MARK, "")
    vowels = [i for i, c in enumerate(text) if c in VOWELS]
    at = token.rfind(stress.MARK)
    if at < 0:
        # A word of one syllable can only be stressed there.
        return vowels[0] if len(vowels) == 1 else None
    index = at - token[:at].count(stress.MARK)  # position in the word without marks
    return index if index in vowels else None
