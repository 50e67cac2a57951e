"""Which poems `lira eval poetry` writes: those the poem adapter's training held out.

The selection is adapters.data_poems.holdout_poems, the function training
uses, with the poem model's own token count.  Its two settings (poems held
out per author, the longest poem kept) come from --holdout when given, else
from the adapter's manifest, so that by default the poems evaluated are the
ones the adapter never saw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from adapters.data_poems import Poem, holdout_poems, read_poems
from adapters.manifest import read_manifest
from assistant.evals.errors import EvalError
from assistant.poetry.authors import near_matches

DEFAULT_HOLDOUT = 1
DEFAULT_MAX_TOKENS = 600  # data_poems' default, as `lira train --poem-max-tokens`


@dataclass(frozen=True)
class HoldoutSetting:
    """How many poems each author keeps out, the longest poem kept, and who said so."""

    per_author: int
    max_tokens: int
    source: str  # '--holdout', "the adapter's manifest" or 'defaults'
    first_line_titles: bool = False  # as the adapter was trained (its manifest)


def holdout_setting(adapter: Path | None, holdout: int | None) -> HoldoutSetting:
    """--holdout, else the adapter manifest's poem options, else the defaults."""
    manifest = read_manifest(adapter) if adapter else None
    options = ((manifest or {}).get("data") or {}).get("options") or {}
    max_tokens = options.get("poem_max_tokens") or DEFAULT_MAX_TOKENS
    titles = bool(options.get("first_line_titles"))
    if holdout is not None:
        return HoldoutSetting(holdout, max_tokens, "--holdout", titles)
    if options.get("holdout_per_author"):
        return HoldoutSetting(options["holdout_per_author"], max_tokens, "the adapter's manifest", titles)
    return HoldoutSetting(DEFAULT_HOLDOUT, max_tokens, "defaults", titles)


def select_poems(corpus: Path, count_tokens: Callable[[str], int], setting: HoldoutSetting,
                 authors: Sequence[str] = (), limit: int | None = None) -> list[Poem]:
    """The held-out poems of ``authors`` (all when empty), at most ``limit`` per author."""
    poems = holdout_poems(corpus, count_tokens, setting.max_tokens, setting.per_author,
                          setting.first_line_titles)
    if not poems:
        raise EvalError(_why_none(corpus, setting))
    if authors:
        poems = _of_authors(poems, authors)
    return _first_per_author(poems, limit) if limit else poems


def _why_none(corpus: Path, setting: HoldoutSetting) -> str:
    if not read_poems(corpus)[0]:
        return (f"no poems in {corpus}; give a poem corpus (JSONL with author/title/text, "
                "PoetryCorpus XML or JSON, or a RusLit folder)")
    return (f"no author in {corpus} has more than {setting.per_author} titled poems of at "
            f"most {setting.max_tokens} tokens, so none is held out; lower --holdout")


def _of_authors(poems: list[Poem], authors: Sequence[str]) -> list[Poem]:
    """Poems whose author contains one of ``authors`` (any case), each of which must match."""
    known = list(dict.fromkeys(p.author for p in poems))
    for wanted in authors:
        if not any(wanted.casefold() in name.casefold() for name in known):
            near = near_matches(wanted, known)
            hint = f"did you mean {', '.join(near)}?" if near else f"held out: {', '.join(known)}"
            raise EvalError(f"no held-out poems by '{wanted}'; {hint}")
    return [p for p in poems if any(w.casefold() in p.author.casefold() for w in authors)]


def _first_per_author(poems: list[Poem], limit: int) -> list[Poem]:
    taken: dict[str, int] = defaultdict(int)
    kept = []
    for poem in poems:
        if taken[poem.author] < limit:
            taken[poem.author] += 1
            kept.append(poem)
    return kept
