"""A poem's form: lines, stanzas, rhyme scheme (RIFMA letters) and metre.

    >>> analyze_poem("Ночь, улица, фонарь, аптека,\\nБессмысленный и тусклый свет.\\n"
    ...              "Живи ещё хоть четверть века —\\nВсё будет так. Исхода нет.").rhyme_scheme
    'ABAB'
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.errors import LiraError
from assistant.poetry.metre import find_metre, metrical_readings
from assistant.poetry.rhyme import line_ending, rhymed_share, stanza_scheme
from assistant.poetry.verse import parse_poem

PUBLIC_FIELDS = ("lines", "stanzas", "rhyme_scheme", "metre", "feet")


class EmptyPoem(LiraError):
    """The text to analyse has no verse lines."""


@dataclass(frozen=True)
class PoemForm:
    """What `lira poem analyze` reports about a poem."""

    lines: int
    stanzas: int
    rhyme_scheme: str  # letters per stanza, stanzas separated by spaces: 'ABAB -A-A'
    metre: str | None  # 'ямб', 'хорей', 'дактиль', 'амфибрахий', 'анапест'; None: not found
    feet: int | None  # ictuses in most lines, e.g. 4 for iambic tetrameter
    rhymed: float  # share of lines that rhyme with another line of their stanza
    metre_cost: float | None  # the metre's mean cost per line (see assistant.poetry.metre; 0: perfect)

    def to_dict(self) -> dict:
        """The JSON of `lira poem analyze`: the form, without the numbers used for scoring."""
        return {key: getattr(self, key) for key in PUBLIC_FIELDS}


def analyze_poem(text: str, with_stress: bool = True) -> PoemForm:
    """Analyse one poem; stanzas are separated by blank lines.

    ``with_stress`` False skips the stress model: rhymes are then found by
    letters and the metre is unknown.
    """
    stanzas = parse_poem(text, with_stress)
    if not stanzas:
        raise EmptyPoem("the poem is empty: give some lines of verse")
    fit = find_metre([v for stanza in stanzas for v in stanza])
    endings = [[line_ending(v, metrical_readings(v, fit) if fit else ()) for v in stanza]
               for stanza in stanzas]
    lines = sum(len(s) for s in stanzas)
    rhymed = sum(rhymed_share(e) * len(e) for e in endings) / lines
    return PoemForm(lines=lines, stanzas=len(stanzas),
                    rhyme_scheme=" ".join(stanza_scheme(e) for e in endings),
                    metre=fit.name if fit else None, feet=fit.feet if fit else None,
                    rhymed=round(rhymed, 3), metre_cost=fit.cost if fit else None)
