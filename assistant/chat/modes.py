"""The chat's modes: what a message is answered with.

A StrEnum, so each mode is also its word: history rows store "chat",
"documents" or "poem", and the CLI's --mode takes the same words.
"""

from __future__ import annotations

import enum


class Mode(enum.StrEnum):
    """The modes, in the order the app's F2 cycles through them."""

    CHAT = "chat"  # the chat model alone, with the conversation's earlier turns
    DOCUMENTS = "documents"  # answers from an index, citing their sources
    POEM = "poem"  # a poem in an author's style, with the author's poems as examples

    @property
    def profile(self) -> str:
        """The settings profile (model + adapter) the mode generates with: "poem" or "chat"."""
        return "poem" if self is Mode.POEM else "chat"


def stored_mode(value: str) -> Mode:
    """The mode of a stored history row; one this version does not know reads as chat."""
    try:
        return Mode(value)
    except ValueError:
        return Mode.CHAT
