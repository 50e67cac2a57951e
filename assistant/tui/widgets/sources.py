"""The side panel: the numbered sources (or style examples) of the selected answer.

Under the list, the highlighted source's passage is shown with the words that
match the question marked; Enter or a click opens it in a dialog.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from assistant.chat.modes import Mode
from assistant.rag import Source
from assistant.safe_text import one_line, printable
from assistant.tui.highlight import highlighted


def source_option(source: Source) -> Option:
    """'[n] title' and, dimmed under it, author, file name and score."""
    file_name = one_line(source.path.rsplit("/", 1)[-1])
    title = one_line(source.title) or file_name
    facts = [one_line(source.author), file_name, f"{source.score:.3f}"]
    prompt = Content.assemble((f"[{source.n}] ", "bold"), title, "\n",
                              (" · ".join(f for f in facts if f), "dim"))
    return Option(prompt, id=str(source.n))


class SourcesPanel(Vertical):
    """Lists the sources of one answer and previews the highlighted one."""

    class Opened(Message):
        def __init__(self, number: int) -> None:
            super().__init__()
            self.number = number

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sources: list[Source] = []
        self.query_text = ""

    def compose(self) -> ComposeResult:
        yield Static("Источники", classes="panel-title")
        yield Static("Здесь появятся источники ответа.", classes="panel-empty")
        yield OptionList(classes="panel-list")
        with VerticalScroll(classes="panel-preview"):
            yield Static("", classes="panel-passage")

    def show(self, sources: list[Source], mode: Mode, query: str = "") -> None:
        """Show ``sources``; in poem mode they are the style examples."""
        self.sources, self.query_text = list(sources), query
        title = "Образцы стиля" if mode == Mode.POEM else "Источники"
        self.query_one(".panel-title", Static).update(title)
        empty = self.query_one(".panel-empty", Static)
        empty.update("Стихи автора, взятые за образец, появятся здесь." if mode == Mode.POEM
                     else "Здесь появятся источники ответа.")
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([source_option(s) for s in sources])
        for widget in (options, self.query_one(".panel-preview")):
            widget.display = bool(sources)
        empty.display = not sources
        if sources:
            options.highlighted = 0
            self._preview(0)

    def _preview(self, index: int) -> None:
        source = self.sources[index]
        self.query_one(".panel-passage", Static).update(
            highlighted(printable(source.text, lines=True), self.query_text))
        self.query_one(".panel-preview").scroll_home(animate=False)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.sources):
            self._preview(event.option_index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Opened(int(event.option.id)))
