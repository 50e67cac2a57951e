"""The chat session's state: mode, index, author and the per-session settings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from assistant.chat.modes import Mode
from assistant.settings import DecodingSettings, Settings

MODE_LABELS = {Mode.CHAT: "Чат", Mode.DOCUMENTS: "Документы", Mode.POEM: "Стихи"}

_MODE_WORDS = {
    "chat": Mode.CHAT, "чат": Mode.CHAT, "c": Mode.CHAT,
    "documents": Mode.DOCUMENTS, "docs": Mode.DOCUMENTS, "doc": Mode.DOCUMENTS,
    "rag": Mode.DOCUMENTS, "документы": Mode.DOCUMENTS, "док": Mode.DOCUMENTS,
    "d": Mode.DOCUMENTS,
    "poem": Mode.POEM, "poems": Mode.POEM, "poetry": Mode.POEM, "стихи": Mode.POEM,
    "стих": Mode.POEM, "p": Mode.POEM,
}


def mode_from_word(word: str) -> Mode | None:
    """The mode a user typed (English or Russian, any case), or None."""
    return _MODE_WORDS.get(word.strip().casefold())


def next_mode(mode: Mode) -> Mode:
    """The mode after ``mode`` in the F2 cycle."""
    order = list(Mode)
    return order[(order.index(mode) + 1) % len(order)]


@dataclass
class Session:
    """What the next reply is made with; changed by commands and the settings dialog.

    ``adapters`` holds an override per profile (chat, poem); None keeps the
    profile's own adapter from the settings.
    """

    mode: Mode
    index_name: str
    k: int
    max_new_tokens: int
    temperature: float
    author: str | None = None
    # how answers and chat replies are decoded ([decoding] settings, then the dialog's)
    decoding: DecodingSettings = field(default_factory=DecodingSettings)
    adapters: dict[str, str | None] = field(default_factory=lambda: {"chat": None, "poem": None})
    conversation_id: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, mode: str, index_name: str | None = None,
                      author: str | None = None, adapter: str | None = None) -> Session:
        session = cls(mode=Mode(mode), index_name=index_name or settings.index_name, k=settings.k,
                      max_new_tokens=settings.max_new_tokens,
                      temperature=settings.temperature, author=author,
                      decoding=replace(settings.decoding))
        session.adapters["chat"] = adapter
        return session

    @property
    def profile(self) -> str:
        return self.mode.profile

    @property
    def adapter(self) -> str | None:
        """The adapter override of the current mode's profile."""
        return self.adapters[self.profile]
