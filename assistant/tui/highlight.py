"""Marking a passage: the words that match the question (same Snowball stem), and the
evidence windows the grounding check used."""

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


# How an evidence window the check used is drawn, by the claim's verdict.
EVIDENCE_STYLES = {"supported": "underline bold green", "contradicted": "underline bold red",
                   "unsupported": "underline bold yellow"}
PASSAGE_GAP = "\n\n…\n\n"  # between the separate passages of one document


def document_text(document, query: str):
    """A document's passages (assistant.source_groups.Document) as one Rich Text: the
    evidence windows the check used styled by verdict, the question's words marked,
    control characters escaped."""
    from rich.text import Text

    from assistant.safe_text import printable

    text = Text()
    for i, passage in enumerate(document.passages):
        if i:
            text.append(PASSAGE_GAP, style="dim")
        cuts = sorted({0, len(passage.text), *(x for h in passage.highlights
                                              for x in (h.start, h.end))})
        for start, end in zip(cuts, cuts[1:]):
            covering = [h for h in passage.highlights if h.start <= start and end <= h.end]
            style = EVIDENCE_STYLES.get(covering[0].verdict, "underline") if covering else ""
            text.append(printable(passage.text[start:end], lines=True), style=style)
    for start, end in matching_spans(text.plain, query):
        text.stylize("bold reverse", start, end)
    return text
