"""The message box: multi-line, Enter sends, Ctrl+J (or Shift+Enter) starts a new line."""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class PromptArea(TextArea):
    """A TextArea that sends its text on Enter.

    Ctrl+J is the newline key because every terminal sends it (as a line
    feed); Shift+Enter also works where the terminal reports it.
    """

    BINDINGS = [
        # Enter is handled in _on_key, before TextArea inserts a newline; this
        # binding only puts it in the footer.
        Binding("enter", "submit", "Отправить", key_display="⏎", show=False),
        Binding("ctrl+j", "newline", "Перенос", key_display="^j"),
        Binding("shift+enter", "newline", "Новая строка", show=False),
    ]

    class Submitted(Message):
        """The user sent ``text`` (already stripped; never empty)."""

        def __init__(self, prompt: PromptArea, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

        @property
        def control(self) -> PromptArea:
            return self.prompt

    def __init__(self, placeholder: str = "", cursor_blink: bool = True, **kwargs) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", show_line_numbers=False,
                         highlight_cursor_line=False, placeholder=placeholder, compact=True,
                         **kwargs)
        self.cursor_blink = cursor_blink

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.action_submit()
            return
        await super()._on_key(event)

    def action_submit(self) -> None:
        """Post the text; the app clears the box once it has accepted it."""
        text = self.text.strip()
        if text:
            self.post_message(self.Submitted(self, text))

    def action_newline(self) -> None:
        start, end = self.selection
        self.replace("\n", start, end, maintain_selection_offset=False)
