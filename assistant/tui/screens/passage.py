"""A source's passage, with the words that match the question marked."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from assistant.rag import Source
from assistant.safe_text import one_line, printable
from assistant.tui.highlight import highlighted


class PassageScreen(ModalScreen[None]):
    """Shows source ``number`` of ``sources``; Left/Right go to the others."""

    BINDINGS = [
        Binding("escape,q,enter", "dismiss", "Закрыть"),
        Binding("left", "step(-1)", "Пред."),
        Binding("right", "step(1)", "След."),
    ]

    def __init__(self, sources: list[Source], number: int, query: str,
                 examples: bool = False) -> None:
        super().__init__()
        self.sources = sources
        self.index = max(0, min(len(sources) - 1, number - 1))
        self.query_text = query
        self.examples = examples

    def compose(self) -> ComposeResult:
        with Vertical(id="passage-box", classes="dialog"):
            yield Static("", id="passage-title", classes="dialog-title")
            yield Static("", id="passage-meta")
            with VerticalScroll(id="passage-scroll"):
                yield Static("", id="passage-text")
            yield Static("←/→ другие источники · Esc закрыть", classes="dialog-hint")

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        source = self.sources[self.index]
        kind = "Образец" if self.examples else "Источник"
        self.query_one("#passage-title", Static).update(
            Content.assemble((f"{kind} [{source.n}] ", "bold"), one_line(source.title) or "без названия"))
        meta = [("Автор: ", "dim"), one_line(source.author) or "—", "\n",
                ("Файл: ", "dim"), one_line(source.path), "\n",
                ("Оценка поиска: ", "dim"), f"{source.score:.4f}"]
        self.query_one("#passage-meta", Static).update(Content.assemble(*meta))
        self.query_one("#passage-text", Static).update(
            highlighted(printable(source.text, lines=True), self.query_text))
        self.query_one("#passage-scroll").scroll_home(animate=False)

    def action_step(self, step: int) -> None:
        self.index = (self.index + step) % len(self.sources)
        self._show()
