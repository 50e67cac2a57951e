"""Choosing a poem author with type-ahead over the indexed poem corpora."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

MAX_SHOWN = 200


def matching_authors(authors: list[tuple[str, int]], typed: str) -> list[tuple[str, int]]:
    """Authors whose name contains what was typed (any case); word starts rank first."""
    needle = typed.strip().casefold()
    if not needle:
        return authors
    found = [(name, n) for name, n in authors if needle in name.casefold()]
    return sorted(found, key=lambda item: not any(
        word.startswith(needle) for word in item[0].casefold().split()))


def best_author(authors: list[tuple[str, int]], typed: str) -> str | None:
    """The one author ``typed`` names: an exact match, else the first match."""
    for name, _ in authors:
        if name.casefold() == typed.strip().casefold():
            return name
    found = matching_authors(authors, typed)
    return found[0][0] if found else None


class AuthorScreen(ModalScreen[str | None]):
    """Type to filter; Enter takes the highlighted author (or the typed name)."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Закрыть"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]

    def __init__(self, authors: list[tuple[str, int]], current: str | None = None) -> None:
        super().__init__()
        self.authors = authors
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="author-box"):
            yield Static("Автор для стихов", classes="dialog-title")
            yield Input(value=self.current or "", placeholder="Начните вводить имя…",
                        id="author-input")
            yield Static("В индексе нет стихов с авторами: введите имя вручную "
                         "(или проиндексируйте корпус: /index ПУТЬ --ruslit).",
                         id="author-empty")
            yield OptionList(id="author-list")
            yield Static("↑/↓ выбрать · Enter готово · Esc отмена", classes="dialog-hint")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, typed: str) -> None:
        options = self.query_one(OptionList)
        found = matching_authors(self.authors, typed)[:MAX_SHOWN]
        options.clear_options()
        options.add_options([Option(Content.assemble(name, (f"  {n}", "dim")), id=name)
                             for name, n in found])
        if found:
            options.highlighted = 0
        self.query_one("#author-empty").display = not self.authors
        options.display = bool(self.authors)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            current = options.highlighted if options.highlighted is not None else -step
            options.highlighted = max(0, min(options.option_count - 1, current + step))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one(OptionList)
        if options.option_count and options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)
        elif event.value.strip():
            self.dismiss(" ".join(event.value.split()))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
