"""Retrieval-augmented answers: retrieve passages, build the prompt, cite them.

The prompt follows the lecture's RAG recipe: numbered passages first, quoted
as data (instructions inside them are not to be followed), then the question,
then the instruction to answer only from them and to cite them as [n].
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# The prompt itself lives in adapters.rag_prompt so that adapter training builds
# exactly the prompt the product sends; these names stay importable from here.
from adapters.rag_prompt import (
    CLOSE,
    EARLIER,
    INSTRUCTION_RAG,
    OPEN,
    SYSTEM_RAG,
    Source,
    build_plain_prompt,
    build_rag_prompt,
)

__all__ = ["CITATION", "CLOSE", "EARLIER", "INSTRUCTION_RAG", "OPEN", "SYSTEM_RAG", "Source", "build_plain_prompt",
           "build_rag_prompt", "cited_numbers", "sources_from_hits"]


# A citation mark in an answer: [1], [1, 2], [ 3 ] (what claims and prompts strip from text).
CITATION = re.compile(r"\[\s*\d+(?:\s*,\s*\d+)*\s*\]")


def sources_from_hits(hits: Sequence) -> list[Source]:
    """Number search hits 1..k as citable sources."""
    return [Source(n=i, path=h.path, title=h.title, author=h.author, text=h.text,
                   score=h.score) for i, h in enumerate(hits, 1)]


def cited_numbers(answer: str, count: int) -> list[int]:
    """The source numbers [n] an answer cites, in order, within 1..count."""
    seen: list[int] = []
    for match in re.finditer(r"\[(\d+(?:\s*,\s*\d+)*)\]", answer):
        for number in map(int, re.split(r"\s*,\s*", match.group(1))):
            if 1 <= number <= count and number not in seen:
                seen.append(number)
    return seen

