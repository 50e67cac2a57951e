"""Metre: the classical Russian metre that best fits the lines' stresses.

Each line is a row of syllables, stressed or not.  A metre puts strong
positions (ictuses) every two syllables (iamb, trochee) or three (dactyl,
amphibrach, anapest).  A stressed syllable of a word of two or more syllables
on a weak position breaks the metre; an unstressed ictus (a pyrrhic) is
normal in Russian verse and costs little; a one-syllable word may be stressed
or not.  The line's last stress, before its clausula, must fall on an ictus.
The metre with the lowest mean cost per line wins, unless even that one
breaks too often: then the verse has no classical metre (dolnik, free verse).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.poetry.rhyme import ENCLITICS
from assistant.poetry.verse import Verse, Word


@dataclass(frozen=True)
class Metre:
    """A metre's name, its foot in syllables and the position of its first ictus."""

    name: str
    foot: int
    first: int


METRES = (Metre("ямб", 2, 1), Metre("хорей", 2, 0), Metre("амфибрахий", 3, 1),
          Metre("анапест", 3, 2), Metre("дактиль", 3, 0))
BREAK_COST = 1.0  # a stressed weak position
# A stress before the first ictus (on the anacrusis) is a common licence: "Этот стон у нас".
ANACRUSIS_BREAK_COST = 0.5
PYRRHIC_COST = {2: 0.25, 3: 0.5}  # an unstressed ictus: usual in binary metres, rarer in ternary
MAX_MEAN_COST = 0.75  # above this per line, no classical metre fits (dolnik, free verse)
# Two-syllable function words often go unstressed in verse, like one-syllable ones.
WEAK_WORDS = frozenset({"между", "через", "перед", "чтобы", "если", "или", "либо", "будто",
                        "тоже", "также", "даже", "разве", "нибудь", "однако", "около",
                        "пусть", "меня", "тебя", "себя", "мои", "твои", "свои", "моя",
                        "твоя", "своя", "мое", "твое", "свое", "моё", "твоё", "своё"})

STRESSED, FREE, UNSTRESSED = "S", "f", "u"


@dataclass(frozen=True)
class MetreFit:
    """The metre found for a poem and how many feet its lines mostly have."""

    name: str
    feet: int
    cost: float  # mean cost per line: 0 is a perfect fit


def syllables(verse: Verse) -> str | None:
    """One code per syllable: S stressed, u unstressed, f free; None if a stress is unknown."""
    words = [w for w in verse.words if w.vowels]
    if any(w.stress is None for w in words):
        return None
    content = [i for i, w in enumerate(words) if i == 0 or w.text not in ENCLITICS]
    final = content[-1] if content else -1  # its stress ends the line's metrical part
    codes = []
    for n, word in enumerate(words):
        if n != final and (len(word.vowels) == 1 or word.text in WEAK_WORDS):
            codes.extend(FREE * len(word.vowels))
        else:
            codes.extend(STRESSED if i == word.stress else UNSTRESSED for i in word.vowels)
    return "".join(codes)


def line_cost(pattern: str, metre: Metre) -> float:
    """How badly one line's syllables fit ``metre`` (0: perfectly)."""
    last = pattern.rfind(STRESSED)
    if last < 0:
        return BREAK_COST
    cost = 0.0 if _ictus(last, metre) else BREAK_COST
    for position, code in enumerate(pattern[:last]):
        if _ictus(position, metre):
            cost += PYRRHIC_COST[metre.foot] if code == UNSTRESSED else 0.0
        elif code == STRESSED:
            cost += ANACRUSIS_BREAK_COST if position < metre.first else BREAK_COST
    return cost


def _ictus(position: int, metre: Metre) -> bool:
    return position >= metre.first and (position - metre.first) % metre.foot == 0


def find_metre(verses: Sequence[Verse]) -> MetreFit | None:
    """The best-fitting classical metre, or None without stresses or without a fit."""
    patterns = [syllables(v) for v in verses]
    if not patterns or any(p is None for p in patterns):
        return None
    patterns = [p for p in patterns if p]
    if not patterns:
        return None
    costs = {m: sum(line_cost(p, m) for p in patterns) / len(patterns) for m in METRES}
    best = min(METRES, key=lambda m: costs[m])  # ties go to the earlier, commoner metre
    if costs[best] > MAX_MEAN_COST:
        return None
    return MetreFit(best.name, _feet(patterns, best), round(costs[best], 3))


def metrical_readings(verse: Verse, fit: MetreFit) -> list[Word]:
    """Other stresses of the line's last word that the metre would have there.

    When the stress model put the last word's stress on a weak position, the
    word's vowels next to it that fall on an ictus are returned as readings
    of that word (the model's usual error is a word it does not know or a
    homograph); otherwise none.
    """
    words = [w for w in verse.words if w.vowels]
    if not words or words[-1].stress is None or words[-1].text in ENCLITICS:
        return []
    metre = next(m for m in METRES if m.name == fit.name)
    last = words[-1]
    start = sum(len(w.vowels) for w in words[:-1])
    vowels = last.vowels
    at = vowels.index(last.stress)
    if _ictus(start + at, metre):
        return []
    return [Word(last.text, vowels[n]) for n in (at + 1, at - 1)
            if 0 <= n < len(vowels) and _ictus(start + n, metre)]


def _feet(patterns: list[str], metre: Metre) -> int:
    counts = Counter()
    for pattern in patterns:
        last = pattern.rfind(STRESSED)
        if last >= metre.first:
            counts[(last - metre.first) // metre.foot + 1] += 1
    return counts.most_common(1)[0][0] if counts else 0
