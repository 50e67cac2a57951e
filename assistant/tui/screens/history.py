"""The list of past conversations: open one, or delete it (Del twice)."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from assistant.chat.history import Conversation, History
from assistant.tui.session import MODE_LABELS


def conversation_option(conversation: Conversation) -> Option:
    when = time.strftime("%d.%m.%Y %H:%M", time.localtime(conversation.updated_at))
    title = conversation.title or "без названия"
    prompt = Content.assemble(
        title, "\n",
        (f"{when} · {MODE_LABELS.get(conversation.mode, conversation.mode)} · "
         f"сообщений: {conversation.messages}", "dim"))
    return Option(prompt, id=str(conversation.id))


class HistoryScreen(ModalScreen[int | None]):
    """Returns the id of the conversation to open, or None."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Закрыть"),
        Binding("delete,d", "delete", "Удалить"),
    ]

    def __init__(self, history: History, current: int | None = None) -> None:
        super().__init__()
        self.history = history
        self.current = current
        self.deleted: list[int] = []
        self._armed: int | None = None  # the conversation Del was pressed on once

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="history-box"):
            yield Static("История разговоров", classes="dialog-title")
            yield Static("Пока нет разговоров.", id="history-empty")
            yield OptionList(id="history-list")
            yield Static("Enter открыть · Del дважды удалить · Esc закрыть",
                         classes="dialog-hint")

    def on_mount(self) -> None:
        self._fill()
        self.query_one(OptionList).focus()

    def _fill(self, keep: int = 0) -> None:
        conversations = self.history.conversations()
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([conversation_option(c) for c in conversations])
        self.query_one("#history-empty").display = not conversations
        options.display = bool(conversations)
        if conversations:
            options.highlighted = min(keep, len(conversations) - 1)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id))

    def action_delete(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        option = options.get_option_at_index(options.highlighted)
        conversation_id = int(option.id)
        if self._armed != conversation_id:
            self._armed = conversation_id
            self.notify("Нажмите Del ещё раз, чтобы удалить разговор.", timeout=3)
            return
        self._armed = None
        self.history.delete_conversation(conversation_id)
        self.deleted.append(conversation_id)
        self.notify("Разговор удалён.")
        self._fill(keep=options.highlighted)
