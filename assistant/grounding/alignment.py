"""Content-word alignment: how much of a claim's wording the evidence contains.

The share of the claim's content stems (stop words and bare numbers left out:
numbers are fact checks' business) that the window contains, exactly or by a
long shared prefix.  It is the checker's measure of "is this window about the
same thing", and, with embeddings, picks the evidence window.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.grounding.words import PREFIX, prefixes


@dataclass(frozen=True)
class Alignment:
    """The share of claim stems found in a window, and the ones that were not."""

    share: float
    missing: tuple[str, ...]


def align(claim_stems: list[str], window_stems: frozenset[str],
          window_prefixes: frozenset[str] | None = None) -> Alignment:
    """Align a claim's content stems with a window's stems (and their prefixes)."""
    if not claim_stems:
        return Alignment(0.0, ())
    if window_prefixes is None:
        window_prefixes = prefixes(window_stems)
    missing = tuple(s for s in claim_stems
                    if s not in window_stems and s[:PREFIX] not in window_prefixes)
    return Alignment(1 - len(missing) / len(claim_stems), missing)
