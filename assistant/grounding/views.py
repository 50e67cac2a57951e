"""A text analysed once for every signal: words, content stems, facts, polarity."""

from __future__ import annotations

from dataclasses import dataclass, replace

from assistant.grounding.fact_check import FactView
from assistant.grounding.facts import sentence_facts
from assistant.grounding.negation import Polarity
from assistant.grounding.words import Word, content_stems, prefixes, words


@dataclass(frozen=True)
class TextView:
    """One or more sentences, ready to be compared."""

    text: str
    words: tuple[Word, ...]  # offsets into text
    content: tuple[str, ...]  # content stems other than names, for alignment
    stems: frozenset[str]  # every word's stem
    prefixes: frozenset[str]
    facts: FactView
    polarity: Polarity


def analyse(sentences: list[str], known_names: frozenset[str] = frozenset()) -> TextView:
    """Analyse consecutive sentences as one text (joined by a space)."""
    items, facts, offset = [], [], 0
    for sentence in sentences:
        items += [replace(w, start=w.start + offset, end=w.end + offset) for w in words(sentence)]
        facts += [replace(f, start=f.start + offset, end=f.end + offset)
                  for f in sentence_facts(sentence, known_names)]
        offset += len(sentence) + 1
    stems = [w.stem for w in items]
    # Names are the fact checks' business; counting them here too would let a changed
    # name pull the evidence towards the sentence that has the new one.
    names = {f.value for f in facts if f.kind == "name"}
    content = [s for s in content_stems(items) if s not in names]
    text = " ".join(sentences)
    return TextView(text, tuple(items), tuple(content), frozenset(stems), prefixes(stems),
                    FactView.of(text, facts, stems), Polarity.of(items))
