"""Author lookup: is an author in the index, and which known names are close to a typo."""

from __future__ import annotations

import difflib

from assistant.errors import LiraError

NEAR_MATCHES = 3
NEAR_CUTOFF = 0.6


class UnknownAuthor(LiraError):
    """The author is not in the index."""


def check_author(engine, author: str, index_name: str | None) -> None:
    """Raise UnknownAuthor, naming near matches, if the index knows other authors only.

    An author matches as the search filter does: a case-insensitive part of a
    name ("пушкин" finds "Александр Пушкин").  Without an index, or with no
    authors in it, there is nothing to check.
    """
    name = index_name or engine.settings.index_name
    if not engine.index_exists(name):
        return
    known = [a for a, _ in engine.authors(name)]
    wanted = author.strip().casefold()
    if not known or any(wanted in a.casefold() for a in known):
        return
    near = near_matches(author, known)
    hint = f"did you mean {', '.join(near)}?" if near else "`lira authors` lists them"
    raise UnknownAuthor(f"no author '{author}' in index '{name}'; {hint}")


def near_matches(author: str, known: list[str]) -> list[str]:
    """Up to NEAR_MATCHES names like ``author``, by the whole name or any word of it."""
    wanted = author.strip().casefold()

    def likeness(name: str) -> float:
        parts = [name.casefold()] + name.casefold().split()
        return max(difflib.SequenceMatcher(None, wanted, part).ratio() for part in parts)

    ranked = sorted(known, key=likeness, reverse=True)
    return [n for n in ranked[:NEAR_MATCHES] if likeness(n) >= NEAR_CUTOFF]
