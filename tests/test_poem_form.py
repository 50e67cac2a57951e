"""Poem form: rhyme schemes in RIFMA letters and metres of known Russian poems.

The stress model (silero-stress) loads once for the module, in a few seconds;
the rhyme rules are also tested on hand-stressed words without it.
"""

from __future__ import annotations

import pytest

from assistant.poetry import stress
from assistant.poetry.form import EmptyPoem, analyze_poem
from assistant.poetry.rhyme import line_ending, rhyme, stanza_scheme
from assistant.poetry.verse import Verse, parse_poem, parse_words
from tests.poems import BLOK, BURYA, MOROZ, PARUS, PROSE, SOSNA, TUCHKI, VOLGA


@pytest.mark.parametrize("text, scheme, metre, feet", [
    (MOROZ, "AABCCB", "ямб", 4),
    (PARUS, "ABAB", "ямб", 4),
    (BLOK, "ABAB ABAB", "ямб", 4),
    (SOSNA, "-A-A", "амфибрахий", 4),
    (TUCHKI, "ABAB", "дактиль", 4),
    (BURYA, "ABAB", "хорей", 4),
    (VOLGA, "ABAB", "анапест", 3),
])
def test_known_poems(stress_model, text, scheme, metre, feet):
    form = analyze_poem(text)
    assert (form.rhyme_scheme, form.metre, form.feet) == (scheme, metre, feet)


def test_stanzas_and_lines_are_counted_at_blank_lines(stress_model):
    form = analyze_poem("\n\n" + BLOK.replace("\n\n", "\n \n\n") + "\n\n")
    assert (form.lines, form.stanzas, form.rhyme_scheme) == (8, 2, "ABAB ABAB")
    assert form.to_dict() == {"lines": 8, "stanzas": 2, "rhyme_scheme": "ABAB ABAB",
                              "metre": "ямб", "feet": 4}


def test_prose_has_no_metre_and_no_rhymes(stress_model):
    form = analyze_poem(PROSE)
    assert form.metre is None and form.feet is None
    assert form.rhyme_scheme == "---" and form.rhymed == 0.0


def test_empty_text_is_a_clear_error():
    with pytest.raises(EmptyPoem, match="empty"):
        analyze_poem(" \n\n \t\n")


def test_without_stress_rhymes_fall_back_to_letters():
    form = analyze_poem(BLOK, with_stress=False)
    assert form.rhyme_scheme == "ABAB ABAB" and form.metre is None


def test_typed_stress_marks_override_the_model():
    # An acute accent (U+0301) after a vowel marks stress; RIFMA's grave marks are dropped.
    assert stress.prepare("за\u0301мок нѐбо ёлка й") == "з+амок небо ёлка й"
    [[verse]] = parse_poem("зам\u043e\u0301к", with_stress=False)
    assert verse.words[0].text == "замок" and verse.words[0].stress == 3


def ending(marked: str):
    return line_ending(Verse(tuple(parse_words(marked))))


@pytest.mark.parametrize("a, b", [
    ("чуд+есный", "прел+естный"),  # a silent т
    ("жемч+ужною", "+южную"),  # unstressed vowels alike
    ("л+ето", "од+етой"),  # a feminine rhyme may differ in its last consonant
    ("облак+а", "издалек+а"),  # an open masculine rhyme with its consonant before
    ("мен+я", "сгон+ял"),  # ... and one consonant added
    ("св+ет", "н+ет"),
    ("дал+ёкой", "один+окой"),  # ё is heard as о
    ("сказ+ал бы", "уп+ал бы"),  # an enclitic leans on the word before it
    ("зв+ука", "м+ука"),  # the spelling of a two-syllable clausula outweighs a stress error
])
def test_rhymes(a, b):
    assert rhyme(ending(a), ending(b))


@pytest.mark.parametrize("a, b", [
    ("с+ад", "вод+а"),
    ("вод+а", "сл+ова"),  # the same last letter, stressed differently
    ("облак+а", "вод+а"),  # open masculine with different consonants before the vowel
    ("+ада", "+ухо"),
    ("свет", "сон"),
])
def test_non_rhymes(a, b):
    assert not rhyme(ending(a), ending(b))


def test_scheme_letters_restart_per_stanza_and_mark_unrhymed_lines():
    words = ["д+ом", "л+ес", "т+ом", "г+ул", "апт+ека", "в+ека"]
    assert stanza_scheme([ending(w) for w in words]) == "A-A-BB"
    assert stanza_scheme([ending("д+ом"), None, ending("т+ом")]) == "A-A"
