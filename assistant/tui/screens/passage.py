"""A source document's passages, with the evidence windows the check used and the words
that match the question marked."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from assistant.safe_text import one_line
from assistant.source_groups import Document
from assistant.tui.highlight import document_text


class PassageScreen(ModalScreen[None]):
    """Shows document ``number`` of ``documents``; Left/Right go to the others."""

    BINDINGS = [
        Binding("escape,q,enter", "dismiss", "Закрыть"),
        Binding("left", "step(-1)", "Пред."),
        Binding("right", "step(1)", "След."),
    ]

    def __init__(self, documents: Sequence[Document], number: int, query: str,
                 examples: bool = False) -> None:
        super().__init__()
        self.documents = tuple(documents)
        self.index = max(0, min(len(documents) - 1, number - 1))
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
        document = self.documents[self.index]
        kind = "Образец" if self.examples else "Источник"
        self.query_one("#passage-title", Static).update(
            Content.assemble((f"{kind} [{document.n}] ", "bold"),
                             one_line(document.title) or "без названия"))
        parts = len(document.numbers)
        meta = [("Автор: ", "dim"), one_line(document.author) or "—", "\n",
                ("Файл: ", "dim"), one_line(document.path) or "—", "\n",
                ("Место в поиске: ", "dim"), str(document.rank),
                ("  релевантность ", "dim"), f"{document.relevance:.2f}",
                *((("  фрагментов ", "dim"), str(parts)) if parts > 1 else ())]
        self.query_one("#passage-meta", Static).update(Content.assemble(*meta))
        self.query_one("#passage-text", Static).update(
            document_text(document, self.query_text))
        self.query_one("#passage-scroll").scroll_home(animate=False)

    def action_step(self, step: int) -> None:
        self.index = (self.index + step) % len(self.documents)
        self._show()
