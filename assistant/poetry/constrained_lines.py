"""Judging one candidate line of a constrained poem against the form and its stanza so far.

A line keeps the form when its clausula rhymes (assistant.poetry.rhyme) with
exactly the earlier lines of its stanza that share its scheme letter (and
ends on another word than they do: a word does not rhyme with itself), and,
with a metre asked for, when its stresses fit that metre (metre.line_cost at
most LINE_COST_OK) with the asked number of feet.  A line whose stress the
model does not know has an unknown metre: it is not accepted at once, but may
still be the best line found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.poetry import stress
from assistant.poetry.metre import STRESSED, line_cost, syllables
from assistant.poetry.rhyme import REDUCED, Ending, line_ending, rhyme
from assistant.poetry.verse import Verse, parse_words

# Per line: up to two pyrrhics of a binary metre, or one stress on the anacrusis.
LINE_COST_OK = 0.5
RHYME_MISS = 10.0  # a wrong rhyme relation outweighs any metre fault (at most 2.5)
SUPPLY_OK = 4  # words of the model's lexicon that rhyme with a first line's ending, at least
UNKNOWN_METRE = 0.75  # between a fitting line and a broken one
WRONG_FEET = 0.5


@dataclass(frozen=True)
class StanzaLine:
    """An accepted line of the current stanza: its scheme letter and ending."""

    letter: str
    ending: Ending | None


@dataclass(frozen=True)
class Verdict:
    """How one candidate line meets the form (``metre_ok`` None: stress unknown)."""

    text: str
    ending: Ending | None
    rhyme_misses: int
    metre_ok: bool | None
    metre_cost: float | None = None
    feet: int | None = None

    @property
    def ok(self) -> bool:
        return self.rhyme_misses == 0 and self.metre_ok is True

    @property
    def penalty(self) -> float:
        """0 for a line that keeps the form; lower is better."""
        if self.metre_ok is None:
            metre = UNKNOWN_METRE
        elif self.metre_ok:
            metre = 0.0
        else:
            metre = min(self.metre_cost or 0.0, 2.0) + WRONG_FEET
        return RHYME_MISS * self.rhyme_misses + metre


def marked_lines(lines: Sequence[str]) -> list[str]:
    """Each line with '+' before its stressed vowels (only hand-typed marks without the
    stress model); one call to the model for all of them."""
    joined = "\n".join(line.replace("\n", " ") for line in lines)
    try:
        return stress.mark_stress(joined).split("\n")
    except stress.StressUnavailable:
        return stress.prepare(joined).split("\n")


def verse_of(marked: str) -> Verse:
    """A line marked by marked_lines as a Verse."""
    return Verse(tuple(parse_words(marked)))


def judge(text: str, verse: Verse, letter: str, stanza: Sequence[StanzaLine],
          metre, feet: int | None, opens: bool = False,
          supply: Callable[[Ending], int] | None = None) -> Verdict:
    """``text`` (parsed as ``verse``) as the next line of ``stanza``, with scheme letter
    ``letter``, in ``metre`` (a metre.Metre; None: any) of ``feet`` (None: any).

    ``opens``: a later line must rhyme with this one, so its ending must be one that
    a rhyme can be found for (see rhymable), and, given ``supply`` (how many words the
    model can write rhyme with an ending), at least SUPPLY_OK of them."""
    ending = line_ending(verse)
    misses = sum(_wrong(line, ending, letter) for line in stanza)
    if ending is None or (opens and not rhymable(ending)):
        misses += 1  # nothing a partner line could rhyme with
    elif opens and supply is not None and supply(ending) < SUPPLY_OK:
        misses += 1  # a rare word: the partner line would find few rhymes
    if metre is None:
        return Verdict(text, ending, misses, True)
    pattern = syllables(verse)
    if not pattern or STRESSED not in pattern:
        return Verdict(text, ending, misses, None)
    cost = line_cost(pattern, metre)
    last = pattern.rfind(STRESSED)
    got = (last - metre.first) // metre.foot + 1 if last >= metre.first else 0
    fits = cost <= LINE_COST_OK and (feet is None or got == feet)
    return Verdict(text, ending, misses, fits, round(cost, 3), got)


# digits or Latin letters: a date, a dedication, English (tidy.py drops such lines before a poem)
NOT_VERSE = re.compile(r"[0-9A-Za-z]")
_CYRILLIC_WORD = re.compile(r"[а-яё]{2,}")


def is_verse(text: str) -> bool:
    """Whether a sampled line reads as a line of Russian verse: no digits or Latin letters
    (dates, dedications, English), and two words or more in lower-case Cyrillic (a title or
    a dedication is in capitals)."""
    return not NOT_VERSE.search(text) and len(_CYRILLIC_WORD.findall(text)) >= 2


def expected_scheme(letters: str) -> str:
    """What the analysis should find in a stanza begun with scheme ``letters``: letters
    that have their partner so far, '-' for those still waiting ('ABA' -> 'A-A')."""
    from assistant.poetry.constrained_form import relabel

    return relabel("".join(c if c != "-" and letters.count(c) > 1 else "-" for c in letters))


def analysis_agrees(lines: Sequence[str], letters: str) -> bool:
    """Whether `lira poem analyze` finds the stanza ``lines`` in the scheme ``letters``
    asks of it so far: the judge reads each line alone, the analysis the stanza together
    (the stress model resolves homographs in context; one reading per line)."""
    from assistant.poetry.form import analyze_poem

    return analyze_poem("\n".join(lines)).rhyme_scheme == expected_scheme(letters)


def rhymable(ending: Ending) -> bool:
    """Whether a partner line can be expected to rhyme with this ending: its stress is
    known and it is masculine or feminine (a dactylic clausula, 'августа', rarely finds
    its like among a model's likeliest words)."""
    return bool(ending.vowel) and ending.body.count(REDUCED) <= 1


def _wrong(line: StanzaLine, ending: Ending | None, letter: str) -> bool:
    want = letter != "-" and letter == line.letter
    got = rhyme(line.ending, ending)
    if want and got and line.ending and ending and line.ending.word == ending.word:
        return True  # the same word again is no rhyme
    return want != got
