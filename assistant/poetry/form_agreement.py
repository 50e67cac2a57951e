"""Whether a generated poem keeps the form of the original: rhyme schemes compared.

Both poems go through assistant.poetry.form.analyze_poem (RIFMA letters per
stanza, '-' for an unrhymed line).  Two measures:

- exact: the two scheme strings are equal, stanza breaks included
  ('ABAB ABAB' matches only 'ABAB ABAB');
- line agreement: lines are paired in order across stanzas, and a pair agrees
  when both lines rhyme (any letter) or both do not ('-'); lines that only
  the longer poem has disagree.  It is the share of agreeing pairs over the
  longer poem's line count, so a poem of the right length whose lines rhyme
  where the original's do scores 1.0 whatever its letters.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from assistant.poetry.form import EmptyPoem, analyze_poem

DEFINITION = ("exact: the same rhyme scheme string (RIFMA letters per stanza, stanza breaks "
              "included); line agreement: lines paired in order, a pair agrees when both "
              "rhyme or both do not, over the longer poem's line count")
_LINE = re.compile(r"-|[A-Z]\d*")  # one line's mark: '-', or a letter (with a number past Z)


@dataclass(frozen=True)
class PoemShape:
    """The part of a poem's form that is compared: its scheme and rhymed share."""

    scheme: str  # '' for a text with no verse line
    rhymed: float


@dataclass(frozen=True)
class FormAgreement:
    """A generated poem's scheme against the original's."""

    scheme: str
    reference_scheme: str
    exact: bool
    line_agreement: float
    rhymed: float  # the generated poem's share of lines that rhyme

    def to_dict(self) -> dict:
        return asdict(self)


def poem_shape(text: str) -> PoemShape:
    """The rhyme scheme and rhymed share of ``text`` (empty for no verse)."""
    try:
        form = analyze_poem(text)
    except EmptyPoem:
        return PoemShape("", 0.0)
    return PoemShape(form.rhyme_scheme, form.rhymed)


def line_agreement(scheme: str, reference: str) -> float:
    """The share of line pairs that agree on rhymed or not (see the module's docstring)."""
    ours, theirs = _LINE.findall(scheme), _LINE.findall(reference)
    longest = max(len(ours), len(theirs))
    if not longest:
        return 1.0
    return sum((a != "-") == (b != "-") for a, b in zip(ours, theirs)) / longest


def compare_form(poem: PoemShape, reference: PoemShape) -> FormAgreement:
    """The generated poem's form against the original's."""
    return FormAgreement(poem.scheme, reference.scheme, poem.scheme == reference.scheme,
                         round(line_agreement(poem.scheme, reference.scheme), 4), poem.rhymed)
