"""Marking the words of a passage that match the question (same Snowball stem)."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)


def matching_spans(passage: str, query: str) -> list[tuple[int, int]]:
    """(start, end) of every word in ``passage`` whose stem is one of the query's.

    Stems are the index's own (index.lexical), so what is marked is what the
    lexical search matched; function words are never marked.
    """
    from index.lexical import terms

    wanted = set(terms(query))
    if not wanted:
        return []
    spans = []
    for match in _WORD.finditer(passage):
        stems = terms(match.group(0))
        if stems and stems[0] in wanted:
            spans.append(match.span())
    return spans


def highlighted(passage: str, query: str, style: str = "bold reverse"):
    """The passage as a Rich Text with the matching words styled."""
    from rich.text import Text

    text = Text(passage)
    for start, end in matching_spans(passage, query):
        text.stylize(style, start, end)
    return text
