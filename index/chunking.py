"""Sentence- and line-aware chunking, sized in tokens of the embedder.

Text is cut into units (a line, or a sentence of a long line), units are
packed into chunks up to ``max_tokens``, and each chunk starts with the last
units of the one before it, up to ``overlap`` tokens.  A unit is never cut
unless it alone exceeds ``max_tokens``, so a poem's line stays whole.

Memory and time stay linear in the text, whatever its shape: a unit longer
than ``max_tokens * MAX_CHARS_PER_TOKEN`` characters (a 50 MB file on one
line, say) is cut at spaces into pieces of ``max_tokens`` characters before
the tokenizer sees it, and tokens are counted ``COUNT_BATCH`` units at a
time, never for the whole text at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

TokenCounter = Callable[[Sequence[str]], list[int]]

# No embedder's token is longer than this many characters on average over a
# unit, so cutting a unit here never splits one that would have fitted.
MAX_CHARS_PER_TOKEN = 8
COUNT_BATCH = 512  # units per tokenizer call: its output is ~100 bytes per token

# A sentence ends at . ! ? … (optionally closed by quotes or brackets) before
# whitespace and something that can open a sentence.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][»\"')\]]))\s+(?=[«\"(\[—–\-A-ZА-ЯЁ0-9])")


@dataclass(frozen=True)
class Chunk:
    """A span of a document's text: ``text == document[start:end]``."""

    text: str
    start: int
    end: int
    tokens: int


def split_units(text: str) -> list[tuple[int, int]]:
    """Character spans of lines, and of sentences inside long lines."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        words = line.group()  # once: each group() call copies the whole line
        cuts = [m.span() for m in _SENTENCE_END.finditer(words)]
        starts = [0] + [e for _, e in cuts]
        ends = [s for s, _ in cuts] + [len(words)]
        for a, b in zip(starts, ends):
            piece = words[a:b]
            lead = len(piece) - len(piece.lstrip())
            if piece.strip():
                a += line.start() + lead
                spans.append((a, a + len(piece.strip())))
    return spans


def chunk_text(text: str, count_tokens: TokenCounter, max_tokens: int = 200,
               overlap: int = 40) -> list[Chunk]:
    """Cut ``text`` into overlapping chunks of at most ``max_tokens`` tokens."""
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    overlap = max(0, min(overlap, max_tokens // 2))
    spans = _bounded(text, split_units(text), max_tokens * MAX_CHARS_PER_TOKEN, piece_chars=max_tokens)
    units = _fit_units(text, spans, _batched(count_tokens), max_tokens)
    return [Chunk(text[units[a][0]:units[b - 1][1]], units[a][0], units[b - 1][1],
                  sum(u[2] for u in units[a:b]))
            for a, b in _pack(units, max_tokens, overlap)]


def _bounded(text: str, spans: list[tuple[int, int]], max_chars: int,
             piece_chars: int) -> list[tuple[int, int]]:
    """Spans of at most ``max_chars`` characters: longer ones cut at spaces into pieces of
    about ``piece_chars`` (a quarter of a chunk or so), which pack into full chunks."""
    bounded: list[tuple[int, int]] = []
    for a, b in spans:
        if b - a <= max_chars:
            bounded.append((a, b))
        else:
            bounded += _split_long(text, a, b, parts=-(-(b - a) // piece_chars))
    return bounded


def _batched(count_tokens: TokenCounter) -> TokenCounter:
    """``count_tokens`` called on at most COUNT_BATCH texts at a time."""
    def count(texts: Sequence[str]) -> list[int]:
        return [n for i in range(0, len(texts), COUNT_BATCH)
                for n in count_tokens(texts[i:i + COUNT_BATCH])]
    return count


def _fit_units(text: str, spans: list[tuple[int, int]], count_tokens: TokenCounter,
               max_tokens: int) -> list[tuple[int, int, int]]:
    """Attach token counts; split units that alone exceed max_tokens at spaces."""
    counts = count_tokens([text[a:b] for a, b in spans]) if spans else []
    units: list[tuple[int, int, int]] = []
    for (a, b), n in zip(spans, counts):
        if n <= max_tokens:
            units.append((a, b, n))
            continue
        pieces = _split_long(text, a, b, parts=-(-n // max_tokens) + 1)
        units += [(pa, pb, m) for (pa, pb), m in
                  zip(pieces, count_tokens([text[pa:pb] for pa, pb in pieces]))]
    return units


def _split_long(text: str, start: int, end: int, parts: int) -> list[tuple[int, int]]:
    """Cut text[start:end] into about ``parts`` pieces at whitespace."""
    step = max(1, (end - start) // parts)
    pieces, a = [], start
    while a < end:
        b = min(end, a + step)
        if b < end:
            space = text.rfind(" ", a + 1, b)
            b = space if space > a else b
        pieces.append((a, b))
        a = b
        while a < end and text[a].isspace():
            a += 1
    return pieces


def _pack(units: list[tuple[int, int, int]], max_tokens: int,
          overlap: int) -> list[tuple[int, int]]:
    """Index ranges [a, b) of units forming each chunk."""
    ranges: list[tuple[int, int]] = []
    a = 0
    while a < len(units):
        b, total = a, 0
        while b < len(units) and (b == a or total + units[b][2] <= max_tokens):
            total += units[b][2]
            b += 1
        ranges.append((a, b))
        if b >= len(units):
            break
        a = _overlap_start(units, a, b, overlap)
    return ranges


def _overlap_start(units: list[tuple[int, int, int]], a: int, b: int, overlap: int) -> int:
    """First unit of the next chunk: back from b while within ``overlap``."""
    start, carried = b, 0
    while start - 1 > a and carried + units[start - 1][2] <= overlap:
        start -= 1
        carried += units[start][2]
    return start
