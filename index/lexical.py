"""Lexical matching for Russian: Snowball stems searched with SQLite FTS5 BM25.

Chunks are stored with their stems as a space-joined string; FTS5 ranks them
with its built-in BM25, inside the same SQLite transactions as the catalog, so
the lexical index can never drift from the chunks it describes.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"\w+", re.UNICODE)

# Function words that match almost every chunk and only dilute BM25.
STOPWORDS = frozenset("""
и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только
ее её мне было вот от меня еще ещё нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был
него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней
для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот того
потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда зачем
всех никогда можно при наконец два об другой хоть после над больше тот через эти нас про всего
них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя
такой им более всегда конечно всю между это
""".split())


@lru_cache(maxsize=1)
def stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("russian")


def terms(text: str) -> list[str]:
    """Lower-cased, ё-folded Snowball stems of the content words in ``text``."""
    words = [w for w in _WORD.findall(text.lower().replace("ё", "е")) if w not in STOPWORDS]
    return stemmer().stemWords(words)


def stems_text(text: str) -> str:
    """What the FTS5 table stores for a chunk."""
    return " ".join(terms(text))


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression: any of the query's stems (None if it has none)."""
    unique = dict.fromkeys(terms(query))
    if not unique:
        return None
    # Quoting makes every stem a literal, so FTS5 syntax in a query can't break it.
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in unique)
