"""Scores for generated poems that need no stress model: length, diversity, stopping."""

from __future__ import annotations

from collections.abc import Sequence

SELF_STOPS = ("eos", "stop string")  # what GenerationStats.stopped_by says when a poem ended itself


def verse_lines(text: str) -> list[str]:
    """The non-blank lines of a poem, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def line_count_ratio(poem: str, reference: str) -> float:
    """Lines of ``poem`` per line of ``reference`` (1.0: the same length in lines)."""
    return len(verse_lines(poem)) / max(len(verse_lines(reference)), 1)


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams over all n-grams of ``texts`` (Li et al.'s distinct-n); 0 when none."""
    seen, total = set(), 0
    for text in texts:
        words = text.lower().split()
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else 0.0


def self_stop_rate(stopped_by: Sequence[str]) -> float:
    """The share of generations that ended on their own, not at the token limit."""
    return sum(reason in SELF_STOPS for reason in stopped_by) / len(stopped_by) if stopped_by else 0.0
