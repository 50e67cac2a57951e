"""The rhymes a model can write: the whole-word tokens of its vocabulary that rhyme with a
line ending, by the project's own rhyme judge (assistant.poetry.rhyme).

The first line of a rhyme (A1, B1) must end on a word its partner line can
rhyme with; a rare word ('ходскому') leaves the partner few candidates among
the model's words, so it is refused when few lexicon words rhyme with it
(constrained_lines.SUPPLY_OK).  The same lists give the partner line its
last resort: any rhyming word of the lexicon.  Lexicon words are stressed only when an ending
asks for them (those sharing its last letters: few rhymes end otherwise), and
each word and each ending is stressed or counted once per process.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence

from assistant.poetry.constrained_lines import marked_lines, verse_of
from assistant.poetry.rhyme import Ending, line_ending, rhyme

SUFFIX = 2  # letters a lexicon word must share with an ending to be stressed and judged


_SOUND_ALIKE = str.maketrans("ёэюяы", "ееуаи")  # as a stressed vowel is heard (rhyme.py)


def suffix(word: str) -> str:
    """The last SUFFIX letters of ``word``, vowels that sound alike as one ('поэт' and
    'свет' end alike): the cheap test before stressing."""
    return word.translate(_SOUND_ALIKE)[-SUFFIX:]


class RhymeLexicon:
    """Words (a model's whole-word tokens) that rhyme with an ending, stressed on demand."""

    def __init__(self, words: Iterable[str]):
        self.words = tuple(dict.fromkeys(w.replace("ё", "е") for w in words))
        self._by_suffix: dict[str, list[str]] = defaultdict(list)
        for word in self.words:
            self._by_suffix[suffix(word)].append(word)
        self._endings: dict[str, Ending | None] = {}
        self._rhymes: dict[Ending, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def letter_supply(self, word: str) -> int:
        """Lexicon words other than ``word`` that end in its last SUFFIX letters (an upper
        bound of its rhymes, known without the stress model)."""
        return sum(w != word for w in self._by_suffix.get(suffix(word), ()))

    def rhymes(self, ending: Ending) -> tuple[str, ...]:
        """The lexicon words, other than the ending's own, that rhyme with ``ending``."""
        with self._lock:
            if ending not in self._rhymes:
                own = ending.word
                near = [w for w in self._by_suffix.get(suffix(own), ()) if w != own]
                known = self._stressed(near)
                self._rhymes[ending] = tuple(w for w in near if rhyme(ending, known[w]))
            return self._rhymes[ending]

    def supply(self, ending: Ending) -> int:
        """How many lexicon words rhyme with ``ending``."""
        return len(self.rhymes(ending))

    def _stressed(self, words: Sequence[str]) -> dict[str, Ending | None]:
        new = [w for w in words if w not in self._endings]
        if new:
            for word, marked in zip(new, marked_lines(new)):
                self._endings[word] = line_ending(verse_of(marked))
        return {w: self._endings[w] for w in words}

