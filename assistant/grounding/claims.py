"""Claims: the sentences of an answer, without their citation marks.

Sentences are split with razdel, which knows Russian abbreviations ("г.",
"т. е.", initials) that a full stop alone would cut at.  A mark such as [2]
is removed from the claim's text but kept as the source it cites; a mark that
razdel leaves as a sentence of its own belongs to the sentence before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.rag import CITATION, cited_numbers

_BULLET = re.compile(r"^\s*(?:[-*•–—]|\d+[.)])\s+")


@dataclass
class Claim:
    """One sentence of an answer and the source numbers it cites."""

    text: str
    cites: list[int] = field(default_factory=list)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: each line (list items, paragraphs) split by razdel."""
    from razdel import sentenize

    sentences: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line)
        sentences += [s.text.strip() for s in sentenize(line) if s.text.strip()]
    return sentences


def split_claims(answer: str) -> list[Claim]:
    """The answer's claims in order; sentences with no words are dropped."""
    claims: list[Claim] = []
    for sentence in split_sentences(answer):
        cites = cited_numbers(sentence, 10**6)
        text = " ".join(CITATION.sub(" ", sentence).split())
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        if not re.search(r"\w", text):
            if claims:  # "... России. [1]": the mark cites the sentence before
                claims[-1].cites += [n for n in cites if n not in claims[-1].cites]
            continue
        claims.append(Claim(text, cites))
    return claims
