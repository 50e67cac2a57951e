"""Rhyme rules chosen on RIFMA's tuning half: sounds, echoes, codas, homographs and the metre.

Words are stressed by hand ('+' before the stressed vowel), so these tests need
no stress model, except the last one, which reads a homograph's readings from it.
"""

from __future__ import annotations

import pytest

from assistant.poetry.metre import MetreFit, metrical_readings
from assistant.poetry.rhyme import line_ending, rhyme, rhyme_links, rhymed_share, stanza_scheme
from assistant.poetry.verse import Verse, Word, parse_words


def verse(marked: str) -> Verse:
    return Verse(tuple(parse_words(marked)))


def ending(marked: str, alternatives: tuple[Word, ...] = ()):
    return line_ending(verse(marked), alternatives)


def scheme(*marked: str) -> str:
    return stanza_scheme([ending(m) for m in marked])


@pytest.mark.parametrize("a, b", [
    ("своег+о", "торжеств+о"),  # -ого is spoken -ово
    ("душ+истого", "не+истово"),
    ("голуб+ого", "сл+ово"),
    ("немн+ого", "отл+ого"),  # ... but not in "много", "строго"
    ("вес+елье", "ущ+елье"),
    ("ч+ёрт", "зач+ёт"),  # a closed masculine coda may add one consonant
    ("вост+орг", "вост+ок"),
    ("т+екст", "т+ест"),
])
def test_rhymes(a, b):
    assert rhyme(ending(a), ending(b))


@pytest.mark.parametrize("a, b", [
    ("немн+ого", "сл+ово"),  # г in "немного", в in "другого"
    ("пост+ели", "безд+елье"),  # a soft sign before a vowel is a й: -ели / -елье differ
    ("п+енье", "п+ене"),
    ("с+ад", "с+ам"),  # codas that differ, not by one added consonant
    ("ст+ол", "ст+он"),
    ("т+ы", "тр+аты"),  # an echo is no rhyme on its own (see the stanza tests)
])
def test_non_rhymes(a, b):
    assert not rhyme(ending(a), ending(b))


def test_an_echo_rhymes_only_lines_with_no_other_partner():
    assert scheme("тр+аты", "т+ы") == "AA"
    assert scheme("д+ом", "+я", "т+ом", "мо+я") == "ABAB"  # "я" echoes the unstressed "-я" of "моя"
    # "мечты" echoes "сюжеты", but that already rhymes with "билеты": only those two rhyme.
    assert scheme("мечт+ы", "сюж+еты", "дал+ёко", "бил+еты") == "-A-A"
    assert scheme("+я", "земл+я") == "--"  # "я" is no echo of a stressed "-ля"


def test_links_are_symmetric_and_shares_count_rhymed_lines():
    endings = [ending(m) for m in ("тр+аты", "д+ом", "т+ы", "л+ес")]
    links = rhyme_links(endings)
    assert links == [[False, False, True, False], [False] * 4, [True, False, False, False],
                     [False] * 4]
    assert rhymed_share(endings) == 0.5


def test_an_alternative_stress_is_taken_when_it_rhymes(monkeypatch):
    from assistant.poetry import stress

    # homograph readings come from the stress model once it is loaded (another test may
    # have loaded it): here only the alternative given below may offer "зам+ок"
    monkeypatch.setattr(stress, "homograph_readings", lambda word: ())
    wrong = ending("з+амок")  # the stress model's misreading, "зам+ок" meant
    assert scheme("з+амок", "ур+ок") == "--"
    fixed = ending("з+амок", (Word("замок", 3),))
    assert stanza_scheme([fixed, ending("ур+ок")]) == "AA"
    # The model's reading stays when no other reading rhymes with more lines.
    assert stanza_scheme([fixed, ending("ур+ок"), ending("с+амых")]) == "A-A"
    assert stanza_scheme([fixed, ending("с+амых")]) == "AA"
    assert wrong.readings == () and len(fixed.readings) == 1


def test_the_metre_offers_the_stress_it_puts_on_the_last_word():
    iamb = MetreFit("ямб", 4, 0.0)
    misread = verse("м+ой д+ядя с+амых ч+естных прав+ил")  # stress on a weak syllable
    assert metrical_readings(misread, iamb) == [Word("правил", 2)]
    assert metrical_readings(verse("м+ой д+ядя с+амых ч+естных пр+авил"), iamb) == []
    trochee = MetreFit("хорей", 4, 0.0)
    assert metrical_readings(verse("б+уря м+глою н+ебо кр+оет"), trochee) == []


def test_homographs_are_read_the_way_that_rhymes(stress_model):
    assert scheme("з+амок", "ур+ок") == "AA"  # "замок" may be "зам+ок"
    assert scheme("п+отом", "д+ом") == "AA"  # "потом" may be "пот+ом"
    assert scheme("з+амок", "д+ом") == "--"
