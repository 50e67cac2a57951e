"""The side panel: the sources of the selected answer, one entry per document (or its
style examples, one per poem).

Each entry shows its rank in the search and a relevance in [0, 1]
(assistant.source_groups.Document).  Under the list, the highlighted
document's passages are shown with the evidence windows the check used and
the words that match the question marked; Enter or a click opens it in a dialog.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from assistant.chat.modes import Mode
from assistant.safe_text import one_line
from assistant.source_groups import Document, SourceGroups
from assistant.tui.highlight import document_text


def source_option(document: Document) -> Option:
    """'[n] title' and, dimmed under it, author, file name, rank and relevance."""
    file_name = one_line(document.path.rsplit("/", 1)[-1])
    parts = len(document.numbers)
    facts = [one_line(document.author), file_name,
             f"место {document.rank} · {document.relevance:.2f}",
             f"{parts} фрагм." if parts > 1 else ""]
    prompt = Content.assemble((f"[{document.n}] ", "bold"), one_line(document.name), "\n",
                              (" · ".join(f for f in facts if f), "dim"))
    return Option(prompt, id=str(document.n))


class SourcesPanel(Vertical):
    """Lists the sources of one answer and previews the highlighted one."""

    class Opened(Message):
        def __init__(self, number: int) -> None:
            super().__init__()
            self.number = number

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.documents: tuple[Document, ...] = ()
        self.query_text = ""

    def compose(self) -> ComposeResult:
        yield Static("Источники", classes="panel-title")
        yield Static("Здесь появятся источники ответа.", classes="panel-empty")
        yield OptionList(classes="panel-list")
        with VerticalScroll(classes="panel-preview"):
            yield Static("", classes="panel-passage")

    def show(self, groups: SourceGroups, mode: Mode, query: str = "") -> None:
        """Show the documents of ``groups``; in poem mode they are the style examples."""
        sources = self.documents = groups.documents
        self.query_text = query
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
        self.query_one(".panel-passage", Static).update(
            document_text(self.documents[index], self.query_text))
        self.query_one(".panel-preview").scroll_home(animate=False)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.documents):
            self._preview(event.option_index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Opened(int(event.option.id)))
