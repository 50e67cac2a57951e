"""Rhyme: line endings compared from the last stressed vowel on (the clausula).

The clausula is read as it sounds: a stressed vowel without the softness its
letter marks (я ~ а, ё ~ о, ю ~ у, е ~ э; и ~ ы), unstressed vowels all alike
(Russian reduces them), consonants voiced or devoiced as spoken (final and
before a voiceless one), doubled and silent letters dropped (солнце, честный,
-ться), -ого/-его of a genitive as -ово, and a soft or hard sign before a
vowel as the й it is heard as (постели / безделье do not rhyme).  Two lines
rhyme when the stressed vowels and the syllables after them agree, allowing
what Russian poets and RIFMA's annotators allow:

- feminine and dactylic rhymes may differ in the last consonant (лето / одетой);
- an open masculine rhyme needs the same consonant before the vowel
  (облака / издалека), and may add one consonant (меня / сгонял);
- closed masculine rhymes may end in м or н alike (сон / стариком), and one
  final cluster may add a consonant to the other's (чёрт / зачёт, восторг / восток);
- a clausula of two or more syllables that ends the other word letter for
  letter rhymes with it whatever the other's stress: the stress model's usual
  error is a homograph (звука / мука, цвета / лета).

The last word may be read with another stress (Ending.readings): a homograph's
other reading from the stress model's dictionary (р+уки / рук+и), or the
stress the poem's metre puts there when the model's falls on a weak syllable
(assistant.poetry.metre.metrical_readings).  In a stanza each line keeps the
reading that rhymes with the most other lines, the model's on a tie; two lines
that then rhyme with nothing else may still rhyme by an echo of the masculine
one's last syllable at the other's unstressed end (ты / траты, я / моя).

A line whose last word has no known stress is compared by its last letters.
These rules were chosen on the first 2,000 RIFMA poems (bench/rifma.py).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations

from assistant.poetry import stress
from assistant.poetry.verse import VOWELS, Verse, Word, parse_words

# Unstressed particles that lean on the word before them: "сказал бы" ends on "ал бы".
ENCLITICS = frozenset({"же", "ж", "ли", "ль", "бы", "б", "то", "ка", "с"})
LETTERS_COMPARED = 3  # without a stress, endings match on this many last letters
REDUCED = "ъ"  # every unstressed vowel after the stress
_STRESSED = str.maketrans("яёюеы", "аоуэи")
_DEVOICE = str.maketrans("бвгджз", "пфктшс")
_SPOKEN = [  # spelling -> sound, after the stressed vowel
    (re.compile(r"ть?ся"), "ца"), (re.compile(r"[тд]ц"), "ц"),
    (re.compile(r"стн"), "сн"), (re.compile(r"здн"), "зн"), (re.compile(r"вств"), "ств"),
    (re.compile(r"лнц"), "нц"), (re.compile(r"рдц"), "рц"), (re.compile(r"[сз]ч"), "щ"),
    (re.compile(r"[ьъ](?=[аеёиоуыэюя])"), "й"), (re.compile(r"[ьъ]"), ""),
    (re.compile(r"([^аеёиоуыэюя])\1"), r"\1"),
    (re.compile(r"[бвгджз](?=[пфктшсцчщх])"), lambda m: m.group().translate(_DEVOICE)),
]
_FINAL_CONSONANTS = re.compile(r"[^аеёиоуыэюя]+$")
_FINAL_CLUSTER = re.compile(r"([сн])т$")  # звёзд ~ грёз, as final clusters are spoken
_GENITIVE = re.compile(r"[ео]го$")
# Adverbs of -г- stems, where -ого is no genitive ending and the г is heard.
SPOKEN_G = frozenset({"много", "немного", "строго", "нестрого", "убого", "отлого", "полого",
                      "дорого", "недорого"})
NASALS = frozenset({"м", "н"})


@dataclass(frozen=True)
class Ending:
    """How a line ends, for rhyming.

    ``word`` is the last word (with any enclitic) and ``at`` its stressed
    vowel; the clausula's sounds are ``vowel``, then ``body`` (the syllables
    after it up to the last vowel) and ``coda`` (the consonants after that);
    ``onset`` is the consonant before the stressed vowel.  Without a known
    stress ``vowel`` is empty and only the word's letters count.
    """

    word: str
    at: int = -1
    vowel: str = ""
    body: str = ""
    coda: str = ""
    onset: str = ""
    # The last word's other readings (a homograph's "р+уки" for "рук+и", the metre's
    # stress), each an Ending of its own; see line_ending.
    readings: tuple[Ending, ...] = field(default=(), compare=False)

    @property
    def masculine(self) -> bool:
        return not self.body


def line_ending(verse: Verse, alternatives: Sequence[Word] = ()) -> Ending | None:
    """The ending of a verse line; None when it has no word with a vowel.

    ``alternatives`` are other stresses of the last word to keep as readings
    (the metre's, see assistant.poetry.metre.metrical_readings), besides a
    homograph's own.
    """
    words = [w for w in verse.words if w.vowels or w.text in ENCLITICS]
    tail: list[str] = []
    while len(words) > 1 and words[-1].text in ENCLITICS:
        tail.insert(0, words.pop().text)
    if not words or not words[-1].vowels:
        return None
    last, enclitics = words[-1], "".join(tail)
    word = (last.text + enclitics).replace("ё", "е")
    if last.stress is None:
        return Ending(word)
    others = {}  # by stressed vowel: a homograph's reading (with its ё) before the metre's
    for other in [*_other_readings(last), *alternatives]:
        if other.stress != last.stress:
            others.setdefault(other.stress, other)
    readings = tuple(_clausula(other, (other.text + enclitics).replace("ё", "е"))
                     for other in others.values())
    return replace(_clausula(last, word), readings=readings)


def _other_readings(word: Word) -> list[Word]:
    """The homograph's readings (the stress model's own among them)."""
    return [other for marked in stress.homograph_readings(word.text)
            for other in parse_words(marked) if other.stress is not None]


def _clausula(last: Word, word: str) -> Ending:
    at = last.stress
    sounds = word
    if _GENITIVE.search(word) and word not in SPOKEN_G:
        sounds = word[:-2] + "во"  # "того", "синего": the г is spoken в
    after = sounds[at + 1:]
    for pattern, sound in _SPOKEN:
        after = pattern.sub(sound, after)
    final = _FINAL_CONSONANTS.search(after)
    cut = final.start() if final else len(after)
    body = "".join(REDUCED if c in VOWELS else c for c in after[:cut])
    coda = _FINAL_CLUSTER.sub(r"\1", after[cut:].translate(_DEVOICE))
    return Ending(word, at, last.text[at].translate(_STRESSED), body, coda, _onset(sounds, at))


def _onset(word: str, at: int) -> str:
    before = word[at - 1] if at > 0 else ""
    if not before or before in VOWELS or before in "ьъ":
        return "й"
    return before.translate(_DEVOICE)


def rhyme(a: Ending | None, b: Ending | None) -> bool:
    """Whether two line endings rhyme, in some reading of each (see Ending.readings)."""
    if a is None or b is None:
        return False
    return any(_rhyme(x, y) for x in (a, *a.readings) for y in (b, *b.readings))


def _rhyme(a: Ending, b: Ending) -> bool:
    if not a.vowel or not b.vowel:
        return a.word[-LETTERS_COMPARED:] == b.word[-LETTERS_COMPARED:]
    if _spelt_within(a, b) or _spelt_within(b, a):
        return True
    if a.vowel != b.vowel or a.body != b.body:
        return False
    if not a.masculine:
        return True  # the final consonant may differ
    if a.coda and b.coda:
        return a.coda == b.coda or {a.coda, b.coda} == NASALS or _one_added(a.coda, b.coda)
    # Open masculine: the same consonant before the vowel, and at most one added after.
    return a.onset == b.onset and len(a.coda + b.coda) <= 1


def _one_added(a: str, b: str) -> bool:
    """Whether one consonant cluster is the other with one more consonant (рт / т, кст / ст)."""
    short, long = sorted((a, b), key=len)
    return len(long) == len(short) + 1 and any(
        long[:i] + long[i + 1:] == short for i in range(len(long)))


def _spelt_within(a: Ending, b: Ending) -> bool:
    """Whether ``a``'s clausula of two or more syllables ends ``b`` letter for letter."""
    tail = a.word[a.at:]
    return sum(c in VOWELS for c in tail) >= 2 and b.word.endswith(tail)


def _echo(a: Ending, b: Ending) -> bool:
    """Whether masculine ``a``'s last syllable is spelt at the unstressed end of ``b``.

    "ты" / "траты", "я" / "моя", "нам" / "кафтаном": a rhyme on an unstressed
    syllable, common in light verse and marked as rhymes in RIFMA.
    """
    if not a.masculine or b.masculine:
        return False
    start = a.at - 1 if a.at > 0 and a.word[a.at - 1] not in VOWELS else a.at
    syllable = a.word[start:]
    if len(b.word) - len(syllable) <= b.at:
        return False
    tail = b.word[-len(syllable):]
    if start == a.at and b.word[-len(syllable) - 1] not in VOWELS | {"ь", "ъ"}:
        return False  # "я" echoes "моя", "братья", not "земля"
    return tail.replace("о", "а") == syllable.replace("о", "а")  # unstressed о is heard as а


def rhyme_links(endings: Sequence[Ending | None]) -> list[list[bool]]:
    """Which lines of a stanza rhyme with which (a symmetric matrix, False on the diagonal).

    Homographs are read the way that rhymes (settle_readings); two lines that
    rhyme with no other line may also rhyme by an echo ("ты" / "траты").
    """
    endings = settle_readings(endings)
    n = len(endings)
    links = [[i != j and rhyme(endings[i], endings[j]) for j in range(n)] for i in range(n)]
    alone = [not any(row) for row in links]
    for i, j in combinations(range(n), 2):
        if alone[i] and alone[j] and _echoes(endings[i], endings[j]):
            links[i][j] = links[j][i] = True
    return links


def _echoes(a: Ending | None, b: Ending | None) -> bool:
    return bool(a and b and a.vowel and b.vowel) and (_echo(a, b) or _echo(b, a))


def stanza_scheme(endings: Sequence[Ending | None]) -> str:
    """RIFMA letters for one stanza: 'ABAB', '-A-A'; letters restart in each stanza.

    A line takes the letter of the first earlier line it rhymes with, or a new
    letter when only later lines rhyme with it; a line that rhymes with none is '-'.
    """
    links = rhyme_links(endings)
    letters: list[str] = []
    used = 0
    for i, row in enumerate(links):
        earlier = next((letters[j] for j in range(i) if letters[j] != "-" and row[j]), None)
        if earlier:
            letters.append(earlier)
        elif any(row[i + 1:]):
            letters.append(_letter(used))
            used += 1
        else:
            letters.append("-")
    return "".join(letters)


def settle_readings(endings: Sequence[Ending | None]) -> list[Ending | None]:
    """Each homograph read one way: the reading that rhymes with the most other lines.

    Ties keep the stress model's reading, which comes first.
    """
    settled = list(endings)
    for i, ending in enumerate(endings):
        if ending is None or not ending.readings:
            continue
        others = [o for j, o in enumerate(endings) if j != i]
        settled[i] = max((replace(r, readings=()) for r in (ending, *ending.readings)),
                         key=lambda r: sum(rhyme(r, o) for o in others))
    return settled


def _letter(n: int) -> str:
    alphabet = string.ascii_uppercase
    return alphabet[n] if n < len(alphabet) else alphabet[n % len(alphabet)] + str(n // 26)


def rhymed_share(endings: Sequence[Ending | None]) -> float:
    """The fraction of lines that rhyme with some other line of the same list."""
    if not endings:
        return 0.0
    return sum(any(row) for row in rhyme_links(endings)) / len(endings)
