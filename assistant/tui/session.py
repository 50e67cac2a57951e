"""The chat session's state: mode, index, author and the per-session settings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from assistant.chat.modes import Mode
from assistant.errors import SettingsError
from assistant.poetry.constrained_form import FormAsk, parse_metre, parse_scheme
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


FREE_WORDS = frozenset({"off", "free", "нет", "свободно", "выкл"})
AUTO_WORDS = frozenset({"auto", "авто"})


def form_from_words(text: str) -> FormAsk | None:
    """The poem form of `/form ...`: «ABAB ямб 4 [строф]», «auto» (the author's form) or
    «off» (free verse: None); a SettingsError names a word it cannot read."""
    words = text.split()
    if not words or words[0].casefold() in FREE_WORDS:
        return None
    if words[0].casefold() in AUTO_WORDS and len(words) == 1:
        return FormAsk("auto", "auto")
    scheme = metre = None
    numbers: list[int] = []
    for word in words:
        if word.isdigit():
            numbers.append(int(word))
        elif scheme is None and set(word.upper()) <= set("ABCDEFGH-"):
            scheme = parse_scheme(word) or "auto"
        else:
            metre = parse_metre(word) or "auto"
    if len(numbers) > 2 or any(n < 1 or n > 12 for n in numbers):
        raise SettingsError("give at most two numbers, feet then stanzas, each from 1 to 12")
    return FormAsk(scheme or "auto", metre or "auto", *numbers)


def form_words(form: FormAsk | None) -> str:
    """How a form reads in the app: «ABAB, ямб 4» ('как у автора' for auto parts)."""
    if form is None:
        return "свободная"
    scheme = form.scheme if form.scheme not in (None, "auto") else "рифма как у автора"
    metre = form.metre if form.metre not in (None, "auto") else "размер как у автора"
    feet = f" {form.feet}" if form.feet else ""
    stanzas = f", строф: {form.stanzas}" if form.stanzas else ""
    return f"{scheme}, {metre}{feet}{stanzas}"


def form_line(report: dict) -> str:
    """A finished poem's form for the line under it: «форма: ABAB ямб 4 → ABAB ABAB, ямб 4;
    рифма в 16 из 16 строк, размер в 14» (poetry.constrained's report)."""
    asked, got = report["requested"], report["achieved"]
    feet = f" {asked['feet']}" if asked.get("feet") else ""
    wrote = got.get("rhyme_scheme") or "—"
    metre = (f", {got['metre']}" + (f" {got['feet']}" if got.get("feet") else "")
             if got.get("metre") else ", без ясного размера")
    return (f"форма: {asked['scheme']} {asked['metre'] or ''}{feet} → {wrote}{metre}; "
            f"рифма в {report['lines_rhymed']} из {report['lines']} строк, "
            f"размер в {report['lines_in_metre']}")


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
    form: FormAsk | None = None  # poem mode: the form each line must meet (None: free verse)
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
