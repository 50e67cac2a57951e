"""Turning generated text into the Markdown the chat shows."""

from __future__ import annotations

import re

CITE_SCHEME = "cite:"
_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def link_citations(text: str, count: int) -> str:
    """Make each citation ``[n]`` (1 <= n <= count) a link the app opens as a passage."""
    if count <= 0:
        return text

    def link(match: re.Match) -> str:
        numbers = [int(n) for n in re.split(r"\s*,\s*", match.group(1))]
        if not all(1 <= n <= count for n in numbers):
            return match.group(0)
        return "[" + ", ".join(f"[{n}]({CITE_SCHEME}{n})" for n in numbers) + "]"

    return _CITATION.sub(link, text)


def citation_number(href: str) -> int | None:
    """The source number of a citation link, or None for any other link."""
    if not href.startswith(CITE_SCHEME):
        return None
    number = href[len(CITE_SCHEME):]
    return int(number) if number.isdigit() else None


def verse_lines(text: str) -> str:
    """Keep a poem's line breaks, which Markdown would join into one paragraph.

    Works piece by piece while streaming, since it only rewrites newlines.
    """
    return text.replace("\n", "  \n")
