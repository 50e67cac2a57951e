"""The help dialog: keys and slash commands."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from assistant.tui.commands import COMMANDS

KEYS: tuple[tuple[str, str], ...] = (
    ("Enter", "отправить"),
    ("Ctrl+J (или Shift+Enter)", "новая строка в сообщении"),
    ("Esc", "остановить ответ; закрыть окно"),
    ("F2", "сменить режим: Чат → Документы → Стихи"),
    ("F4", "выбрать автора (режим «Стихи»)"),
    ("F3", "история разговоров"),
    ("Ctrl+N", "новый разговор"),
    ("Ctrl+P", "палитра команд"),
    ("Ctrl+T", "светлая / тёмная тема"),
    ("Tab / Shift+Tab", "переход между полем ввода, разговором и источниками"),
    ("↑/↓ в разговоре", "выбрать ответ; 1–9 — открыть его источник"),
    ("Enter в источниках", "открыть фрагмент; ←/→ — соседние"),
    ("F1", "эта справка"),
    ("Ctrl+Q или Ctrl+C", "выход"),
)


def help_markdown() -> str:
    """The help text: modes, keys and commands."""
    lines = [
        "**Режимы.** *Чат* — разговор без поиска. *Документы* — ответы по индексу "
        "с пронумерованными источниками [n]. *Стихи* — стихотворение в стиле автора "
        "по названию; образцы берутся из стихов автора в индексе.",
        "",
        "| Клавиша | Действие |",
        "|---|---|",
        *[f"| {key} | {action} |" for key, action in KEYS],
        "",
        "| Команда | Действие |",
        "|---|---|",
        *[f"| /{c.name} {c.args} | {c.help} |".replace("  |", " |") for c in COMMANDS],
        "",
        "Сообщение, которое начинается с «/», отправьте как «//…».",
    ]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Закрыть")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help-box"):
            yield Static("Справка", classes="dialog-title")
            yield Markdown(help_markdown(), id="help-text")
            yield Static("Esc закрыть", classes="dialog-hint")
