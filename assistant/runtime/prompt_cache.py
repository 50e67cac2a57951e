"""Reusing the key/value cache of the previous generation for the next prompt.

A chat's follow-up prompt starts with everything the previous turn already
processed (the system text, earlier turns, often the same passages); only the
tokens after the longest common prefix need a forward pass.  The cache keeps
full-attention layers for every layer (sliding-window layers drop old states
and could not be cut back to a shorter prefix); the model's attention masks
still apply each layer's window, so the outputs are the same.  Its layers grow
in place (assistant.runtime.growing_cache) rather than copying themselves every token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Below this many shared tokens a fresh cache is as fast and frees memory.
MIN_REUSE = 8


class PromptCache:
    """The cache of one model's last generation and the token ids it holds."""

    def __init__(self) -> None:
        self._cache: Any = None
        self._ids: list[int] = []

    @property
    def cached_tokens(self) -> int:
        return len(self._ids)

    def take(self, prompt_ids: Sequence[int]) -> tuple[Any, int]:
        """A cache for ``prompt_ids`` and how many of its tokens it already holds."""
        from assistant.runtime.growing_cache import GrowingCache

        shared = min(common_prefix(self._ids, prompt_ids), len(prompt_ids) - 1)
        if self._cache is None or shared < MIN_REUSE:
            self.clear()
            self._cache = GrowingCache()
            return self._cache, 0
        surplus = self._cache.get_seq_length() - shared
        if surplus > 0:
            self._cache.crop(-surplus)  # transformers 5: a negative count of tokens to drop
        self._ids = list(prompt_ids[:shared])
        return self._cache, shared

    def remember(self, sequence_ids: Sequence[int]) -> None:
        """Record what the cache holds after generating ``sequence_ids`` (prompt + output)."""
        if self._cache is None:
            return
        held = self._cache.get_seq_length()
        self._ids = list(sequence_ids[:held])

    def clear(self) -> None:
        """Forget the cache (after an error, or when the model changes)."""
        self._cache, self._ids = None, []


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading ids ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
