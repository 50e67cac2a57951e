"""The top line: the three modes (the current one marked) and what the mode works on."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from assistant.chat.modes import Mode
from assistant.tui.session import MODE_LABELS, Session


def mode_line(session: Session) -> Content:
    """'Лира  Чат  [Документы]  Стихи  │ индекс: default' with clickable modes."""
    parts: list[Content] = [Content.styled(" Лира ", "bold $text-accent")]
    for mode in Mode:
        label = f" {MODE_LABELS[mode]} "
        if mode == session.mode:
            parts.append(Content.styled(label, "bold $text on $accent"))
        else:
            parts.append(Content.from_markup(f"[@click=app.set_mode('{mode}')]$label[/]",
                                             label=label))
    if session.mode == Mode.DOCUMENTS:
        parts.append(Content.from_markup(" │ индекс: [b]$name[/b]", name=session.index_name))
    elif session.mode == Mode.POEM:
        if session.author:
            parts.append(Content.from_markup(" │ автор: [b]$name[/b] [dim](F4)[/]",
                                             name=session.author))
        else:
            parts.append(Content.from_markup(" │ [$warning]автор не выбран — F4[/]"))
    return Content("").join(parts)


class ModeBar(Static):
    """Shows the session's mode; clicking a mode switches to it."""

    def show(self, session: Session) -> None:
        self.update(mode_line(session))
