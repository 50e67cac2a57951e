"""The chat session's state: mode, index, author and the per-session settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.settings import Settings

MODE_LABELS = {"chat": "Чат", "documents": "Документы", "poem": "Стихи"}
MODE_ORDER = ("chat", "documents", "poem")

_MODE_WORDS = {
    "chat": "chat", "чат": "chat", "c": "chat",
    "documents": "documents", "docs": "documents", "doc": "documents", "rag": "documents",
    "документы": "documents", "док": "documents", "d": "documents",
    "poem": "poem", "poems": "poem", "poetry": "poem", "стихи": "poem", "стих": "poem",
    "p": "poem",
}


def mode_from_word(word: str) -> str | None:
    """The mode a user typed (English or Russian, any case), or None."""
    return _MODE_WORDS.get(word.strip().casefold())


def next_mode(mode: str) -> str:
    """The mode after ``mode`` in the F2 cycle."""
    return MODE_ORDER[(MODE_ORDER.index(mode) + 1) % len(MODE_ORDER)]


@dataclass
class Session:
    """What the next reply is made with; changed by commands and the settings dialog.

    ``adapters`` holds an override per profile (chat, poem); None keeps the
    profile's own adapter from the settings.
    """

    mode: str
    index_name: str
    k: int
    max_new_tokens: int
    temperature: float
    author: str | None = None
    adapters: dict[str, str | None] = field(default_factory=lambda: {"chat": None, "poem": None})
    conversation_id: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, mode: str, index_name: str | None = None,
                      author: str | None = None, adapter: str | None = None) -> Session:
        session = cls(mode=mode, index_name=index_name or settings.index_name, k=settings.k,
                      max_new_tokens=settings.max_new_tokens,
                      temperature=settings.temperature, author=author)
        session.adapters["chat"] = adapter
        return session

    @property
    def profile(self) -> str:
        return "poem" if self.mode == "poem" else "chat"

    @property
    def adapter(self) -> str | None:
        """The adapter override of the current mode's profile."""
        return self.adapters[self.profile]
