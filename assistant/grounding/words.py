"""Words of Russian text as the checker compares them: folded, stemmed, stop words marked.

Stems come from the same Snowball stemmer as the lexical index, so "Москве" and
"Москва" meet as "москв".  The stop-word list is the maintained `stop-words`
package's Russian list, less the negation words: negation is a signal here
(see negation.py), not noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from index.lexical import stemmer  # the index's own stemmer: the same stems everywhere

_WORD = re.compile(r"\w+", re.UNICODE)

# Kept out of the stop list: they flip a claim's meaning.
NEGATORS = frozenset({"не", "ни", "нет", "никогда", "ничего", "никто", "нигде", "никак",
                      "ничто", "никуда"})


@dataclass(frozen=True)
class Word:
    """One word of a text: where it is, how it is written, its stem."""

    text: str
    lower: str
    stem: str
    start: int
    end: int

    @property
    def capitalised(self) -> bool:
        return self.text[:1].isupper()

    @property
    def is_stop(self) -> bool:
        return self.lower in stop_words()

    @property
    def is_content(self) -> bool:
        """A word that carries meaning: not a stop word, not a bare number."""
        return not self.is_stop and not self.lower.isdigit() and len(self.lower) > 1


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """Russian stop words (ё folded to е), negation words excluded."""
    from stop_words import get_stop_words

    words = {w.replace("ё", "е") for w in get_stop_words("ru")}
    return frozenset(words - NEGATORS)


def fold(text: str) -> str:
    """Lower case with ё as е, the form every comparison uses."""
    return text.lower().replace("ё", "е")


def words(text: str) -> list[Word]:
    """The words of ``text`` with offsets and stems."""
    matches = list(_WORD.finditer(text))
    lowers = [fold(m.group()) for m in matches]
    stems = stemmer().stemWords(lowers)
    return [Word(m.group(), low, stem, m.start(), m.end())
            for m, low, stem in zip(matches, lowers, stems)]


def content_stems(items: list[Word]) -> list[str]:
    """Stems of the content words, in order, without repeats."""
    return list(dict.fromkeys(w.stem for w in items if w.is_content))


# Stems sharing their first PREFIX letters count as one word: Snowball leaves some
# derivational endings on ("театр" / "театральн"), and a shorter prefix joins unrelated words.
PREFIX = 5


def prefixes(stems) -> frozenset[str]:
    """The PREFIX-letter beginnings of the stems long enough to have one."""
    return frozenset(s[:PREFIX] for s in stems if len(s) >= PREFIX)
