"""Checking a claim's facts against its evidence window and the whole sources.

A claim's fact is *matched* when the window states the same value (names: the
same stem among the window's words; quotations: the same run of stems).
When it is not, it *differs* (a contradiction) if the window has another
value in its place: a fact of any kind in the replaced slot that holds it
(slots.py), or else a value of the same kind anywhere in the window that the
claim leaves unused; or if the sources state it elsewhere but the window has
other words in its slot (a role swap: a value moved onto another subject).
The other way round, a fact of the window that the claim replaced with a
figure or a name of its own differs too, even when the claim's own value is
stated somewhere else.  With no such value the fact is
*elsewhere* if some source states it (the claim joins two places), else
*absent* (nothing supports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.grounding.fact import Fact
from assistant.grounding.slots import Slot


@dataclass
class FactCheck:
    """How a claim's facts fared against one evidence window."""

    matched: list[Fact] = field(default_factory=list)
    elsewhere: list[Fact] = field(default_factory=list)
    absent: list[Fact] = field(default_factory=list)
    differs: list[tuple[Fact, Fact]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.matched) + len(self.elsewhere) + len(self.absent) + len(self.differs)

    def to_dict(self) -> dict:
        return {"matched": [f.to_dict() for f in self.matched],
                "elsewhere": [f.to_dict() for f in self.elsewhere],
                "absent": [f.to_dict() for f in self.absent],
                "differs": [{"claim": c.to_dict(), "evidence": e.to_dict()}
                            for c, e in self.differs]}


@dataclass(frozen=True)
class FactView:
    """What a text offers to fact checks: its facts, word stems and stem sequence."""

    text: str
    facts: tuple[Fact, ...]
    stems: frozenset[str]
    stem_text: str  # " stem stem ... " for quotation runs

    @classmethod
    def of(cls, text: str, facts: list[Fact], stems: list[str]) -> FactView:
        return cls(text, tuple(facts), frozenset(stems), " " + " ".join(stems) + " ")

    def states(self, fact: Fact) -> bool:
        """Whether this text states ``fact``'s value."""
        if fact.kind == "name":
            return fact.value in self.stems or any(_same_name(fact.value, s) for s in self.stems)
        if fact.kind == "quote":
            return f" {fact.value} " in self.stem_text
        return any(f.kind == fact.kind and f.value == fact.value for f in self.facts)


def check_facts(claim: FactView, window: FactView, sources: list[FactView],
                slots: list[Slot] = ()) -> FactCheck:
    """Sort each of the claim's facts into matched, differs, elsewhere or absent."""
    result = FactCheck()
    for fact in _unique(claim.facts):
        if window.states(fact):
            result.matched.append(fact)
        elif rival := _slot_rival(fact, window, slots) or _rival(fact, claim, window):
            result.differs.append((fact, rival))
        elif any(source.states(fact) for source in sources):
            if moved := _moved(fact, window, slots):
                result.differs.append((fact, moved))
            else:
                result.elsewhere.append(fact)
        else:
            result.absent.append(fact)
    result.differs += _replaced_by_claim(claim, window, slots, result)
    return result


def _slot_rival(fact: Fact, window: FactView, slots: list[Slot]) -> Fact | None:
    """The window's fact in the slot the claim's fact replaced, if any."""
    for slot in slots:
        if slot.claim[0] <= fact.start < slot.claim[1]:
            return next((f for f in window.facts if _inside(f, slot.evidence)), None)
    return None


def _moved(fact: Fact, window: FactView, slots: list[Slot]) -> Fact | None:
    """A role swap: the claim puts a value the sources state elsewhere into a slot where
    its evidence says something else ("Иран негативно отразилось" where the window has
    "Эмбарго негативно отразилось"); what the window has there, as the rival."""
    for slot in slots:
        if slot.claim[0] <= fact.start < slot.claim[1]:
            text = window.text[slot.evidence[0]:slot.evidence[1]]
            return Fact(fact.kind, text.lower(), text, *slot.evidence)
    return None


def _replaced_by_claim(claim: FactView, window: FactView, slots: list[Slot],
                       found: FactCheck) -> list[tuple[Fact, Fact]]:
    """Window facts the claim does not state, in slots it filled with a figure or a name."""
    judged = {c.start for c, _ in found.differs} | {f.start for f in found.absent}
    pairs = []
    for slot in slots:
        if not slot.specific or any(slot.claim[0] <= start < slot.claim[1] for start in judged):
            continue
        if rival := next((f for f in window.facts if _inside(f, slot.evidence)
                          and not claim.states(f)), None):
            text = claim.text[slot.claim[0]:slot.claim[1]]
            pairs.append((Fact(rival.kind, text, text, *slot.claim), rival))
    return pairs


def _inside(fact: Fact, span: tuple[int, int]) -> bool:
    return span[0] <= fact.start < span[1]


def _rival(fact: Fact, claim: FactView, window: FactView) -> Fact | None:
    """A value of the same kind in the window that the claim does not use."""
    for other in window.facts:
        if other.kind == fact.kind and not claim.states(other):
            return other
    return None


def _same_name(a: str, b: str) -> bool:
    # Snowball leaves some endings of names ("Шиллер"/"Шиллера" agree, "Леон"/"Леона" too);
    # a stem that is a long prefix of the other is the same name in another case.
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 4 and long_.startswith(short) and len(long_) - len(short) <= 2


def _unique(facts: tuple[Fact, ...]) -> list[Fact]:
    seen: dict[tuple[str, str], Fact] = {}
    for fact in facts:
        seen.setdefault((fact.kind, fact.value), fact)
    return list(seen.values())
