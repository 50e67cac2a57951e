"""The facts a sentence states: quantities (quantities.py), proper names and quotations.

A proper name is a capitalised word that does not open the sentence (a
sentence's first word is capitalised anyway); it still counts there when the
same stem is capitalised inside some other sentence (``known_names``), or when
it is written in Latin letters or all in capitals.  Names compare by stem, so
"Пушкина" is "Пушкин".  A quotation is the text between «», „“, “” or "",
compared as its sequence of stems.
"""

from __future__ import annotations

import re

from assistant.grounding.fact import Fact
from assistant.grounding.quantities import quantity_facts
from assistant.grounding.words import Word, words

_QUOTE = re.compile(r"«([^«»]{1,300})»|„([^„“”]{1,300})[“”]|“([^“”]{1,300})”|\"([^\"]{1,300})\"")
_ROMAN = re.compile(r"^[IVXLCDM]+$")


def sentence_facts(sentence: str, known_names: frozenset[str] = frozenset()) -> list[Fact]:
    """Every fact in one sentence."""
    items = words(sentence)
    return quantity_facts(sentence) + name_facts(items, known_names) + quote_facts(sentence)


def name_stems(sentence: str) -> set[str]:
    """Stems of the words capitalised inside ``sentence`` (not its first word)."""
    return {w.stem for w in words(sentence)[1:] if _looks_like_name(w)}


def name_facts(items: list[Word], known_names: frozenset[str] = frozenset()) -> list[Fact]:
    """Proper names among a sentence's words."""
    facts = []
    for i, word in enumerate(items):
        if not _looks_like_name(word):
            continue
        if i == 0 and not (word.stem in known_names or _unmistakable(word)):
            continue
        facts.append(Fact("name", word.stem, word.text, word.start, word.end))
    return facts


def quote_facts(sentence: str) -> list[Fact]:
    """Quotations, each as the stems of its words."""
    facts = []
    for match in _QUOTE.finditer(sentence):
        inner = next(g for g in match.groups() if g is not None)
        stems = " ".join(w.stem for w in words(inner))
        if stems:
            facts.append(Fact("quote", stems, inner, match.start(), match.end()))
    return facts


def _looks_like_name(word: Word) -> bool:
    return (word.capitalised and word.text.isalpha() and not word.is_stop
            and not _ROMAN.match(word.text))


def _unmistakable(word: Word) -> bool:
    """Latin-script words and abbreviations are names wherever they stand."""
    latin = all("a" <= c.lower() <= "z" for c in word.text)
    return latin or (len(word.text) > 1 and word.text.isupper())
