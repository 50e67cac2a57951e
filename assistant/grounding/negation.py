"""Negation that one side has and the other lacks ("не был" against "был").

A negator ("не", "ни", "нет") negates the word after it; "не только", "не
менее" and the like are idioms, not negations.  A word negated on one side
and stated plainly (never negated) on the other is a mismatch, and so is a
fused negation ("невозможно") whose positive ("возможно") the other side
states: both are contradiction signals.  A claim that negates something
while the window has no negator at all, on no shared word, is only
*unbacked*: the denial may be a paraphrase ("отказался" / "не участвовал"), so
it weakens support without making a contradiction.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.grounding.words import NEGATORS, Word

_IDIOMS = frozenset({"только", "раз", "менее", "более", "позднее", "ранее", "смотря",
                     "столько", "меньше", "больше", "считая", "говоря"})
_NEGATION_PREFIX = "не"


@dataclass(frozen=True)
class Polarity:
    """The stems a text states plainly and those it negates."""

    plain: frozenset[str]
    negated: frozenset[str]
    has_negator: bool

    @classmethod
    def of(cls, items: list[Word]) -> Polarity:
        plain, negated, negator = set(), set(), False
        for i, word in enumerate(items):
            if word.lower in NEGATORS:
                following = items[i + 1].lower if i + 1 < len(items) else ""
                negator = negator or following not in _IDIOMS
                continue
            after_negator = i > 0 and items[i - 1].lower in NEGATORS
            if after_negator and word.lower not in _IDIOMS:
                negated.add(word.stem)
            else:
                plain.add(word.stem)
        return cls(frozenset(plain), frozenset(negated), negator)

    def only_negated(self) -> frozenset[str]:
        return self.negated - self.plain

    def only_plain(self) -> frozenset[str]:
        return self.plain - self.negated


def negation_mismatch(claim: Polarity, window: Polarity) -> list[str]:
    """The stems whose polarity differs between claim and window (empty: none)."""
    mismatched = (claim.only_negated() & window.only_plain()) | \
                 (window.only_negated() & claim.only_plain())
    mismatched |= _fused(claim.plain, window.plain) | _fused(window.plain, claim.plain)
    return sorted(mismatched)


def unbacked_negation(claim: Polarity, window: Polarity) -> bool:
    """The claim negates something and the window negates nothing."""
    return claim.has_negator and not window.has_negator


def _fused(side: frozenset[str], other: frozenset[str]) -> set[str]:
    """Stems like "невозможн" on one side whose positive "возможн" is on the other."""
    return {s for s in side if s.startswith(_NEGATION_PREFIX) and len(s) >= 6
            and s[2:] in other and s not in other}
