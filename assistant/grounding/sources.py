"""Sources as the checker reads them: labelled texts cut into evidence windows.

A window is one sentence or two neighbouring ones (a claim may join them);
evidence is always a window, so what is shown to the user is short enough to
read and is what the fact checks compared against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from assistant.grounding.claims import split_sentences
from assistant.grounding.facts import name_stems
from assistant.grounding.views import TextView, analyse


@dataclass(frozen=True)
class SourceText:
    """A source text, the label evidence names it by, and the number answers cite it by."""

    label: str
    text: str
    n: int


@dataclass(frozen=True)
class Window:
    """A run of one or two sentences of a source."""

    source: SourceText
    first: int  # index of its first sentence in the source
    size: int
    view: TextView

    @property
    def text(self) -> str:
        return self.view.text


@dataclass
class Corpus:
    """All windows of all sources, and each source analysed whole."""

    sources: list[SourceText]
    windows: list[Window]
    whole: list[TextView]
    known_names: frozenset[str]
    singles: dict[tuple[int, int], Window] = field(default_factory=dict)  # (source n, sentence)

    @classmethod
    def of(cls, sources: list[SourceText]) -> Corpus:
        sentences = [split_sentences(s.text) for s in sources]
        names = frozenset().union(*(name_stems(x) for ss in sentences for x in ss))
        windows = [Window(source, i, size, analyse(ss[i:i + size], names))
                   for source, ss in zip(sources, sentences)
                   for size in (1, 2) for i in range(len(ss) - size + 1)]
        whole = [analyse(ss, names) for ss in sentences]
        singles = {(w.source.n, w.first): w for w in windows if w.size == 1}
        return cls(sources, windows, whole, names, singles)

    def holder(self, window: Window, score: Callable[[Window], float],
               prefer: Callable[[Window], float] | None = None) -> Window:
        """Where in ``window`` a claim's facts must stand: in a pair whose one sentence
        alone scores as high as the pair (``score``: how much of the claim's wording a
        window has), that sentence (the one ``prefer`` ranks first when both do): a figure
        of the next sentence, about another subject, is not the claim's; else the window."""
        if window.size == 1:
            return window
        whole = score(window)
        parts = [self.singles[(window.source.n, window.first + i)] for i in range(window.size)]
        alone = [part for part in parts if score(part) >= whole]
        return max(alone, key=prefer or (lambda part: 0.0)) if alone else window


def as_sources(items: Iterable[Any]) -> list[SourceText]:
    """Sources from plain strings, (label, text) pairs, SourceTexts or rag.Source objects.

    A plain string is labelled by its position ("1", "2"...); a rag.Source by
    its path (or title) and keeps its number n for citations.
    """
    sources = []
    for position, item in enumerate(items, 1):
        if isinstance(item, SourceText):
            sources.append(item)
        elif isinstance(item, str):
            sources.append(SourceText(str(position), item, position))
        elif isinstance(item, tuple):
            sources.append(SourceText(str(item[0]), item[1], position))
        else:
            label = getattr(item, "path", "") or getattr(item, "title", "") or str(position)
            sources.append(SourceText(str(label), item.text, getattr(item, "n", position)))
    return sources
