"""Slots: where a claim and its evidence say the same thing around different words.

The two word sequences (stems, stop words included) are aligned with
difflib; a short stretch of the claim that stands where the evidence has a
different short stretch, with the same words on both sides of it, is a
*replaced slot*: "основан в [1704] году" against "основан в [1703] году",
"под руководством [Ганди]" against "под руководством [Ференца Деака]".  A
fact inside a replaced slot that differs from the evidence's fact there is
a contradiction even when the kinds differ (a year where a percentage was).
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from assistant.grounding.words import Word

MAX_SLOT_WORDS = 6  # longer replaced stretches are rewording, not a changed value


@dataclass(frozen=True)
class Slot:
    """Character spans of a replaced stretch: in the claim and in the evidence.

    ``specific``: the claim's stretch holds a figure or a capitalised word that
    does not open the sentence, i.e. it names something rather than rewording.
    """

    claim: tuple[int, int]
    evidence: tuple[int, int]
    specific: bool = False


def replaced_slots(claim: tuple[Word, ...], evidence: tuple[Word, ...]) -> list[Slot]:
    """The short stretches of the claim that replace a stretch of the evidence."""
    matcher = SequenceMatcher(None, [w.stem for w in claim], [w.stem for w in evidence],
                              autojunk=False)
    slots = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "replace" and i2 - i1 <= MAX_SLOT_WORDS and j2 - j1 <= MAX_SLOT_WORDS:
            specific = any(_specific(w) for w in claim[max(i1, 1):i2])
            slots.append(Slot((claim[i1].start, claim[i2 - 1].end),
                              (evidence[j1].start, evidence[j2 - 1].end), specific))
    return slots


def _specific(word: Word) -> bool:
    return any(c.isdigit() for c in word.text) or (word.capitalised and not word.is_stop)
