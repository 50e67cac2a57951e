"""Running a parsed slash command: each one calls the app action it stands for.

The app is reached through ``CommandTarget``, the part of LiraApp the commands
use, so this module does not import the app that imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from assistant.errors import SettingsError
from assistant.tui.commands import SlashCommand
from assistant.tui.screens.author import best_author
from assistant.tui.session import Session, form_from_words, form_words, mode_from_word


class CommandTarget(Protocol):
    """What slash commands ask of the app (assistant.tui.app.LiraApp)."""

    session: Session
    authors: list[tuple[str, int]]

    def notify(self, message: str, *, severity: str = ...) -> None: ...
    def start_index(self, path: Path, name: str, layout: str = ...) -> None: ...
    def action_set_mode(self, mode: str) -> None: ...
    def action_cycle_mode(self) -> None: ...
    def set_author(self, author: str) -> None: ...
    def action_pick_author(self) -> None: ...
    async def action_new_conversation(self) -> None: ...
    def action_history(self) -> None: ...
    def action_export(self, target: str | None = ...) -> None: ...
    def action_copy_last(self) -> None: ...
    def action_settings(self) -> None: ...
    def action_help(self) -> None: ...
    async def action_quit(self) -> None: ...


async def run_slash_command(app: CommandTarget, command: SlashCommand) -> None:
    """Do what ``command`` asks of ``app``; bad arguments become a notification."""
    name, rest = command.name, command.rest
    if name == "index":
        args = command.positional
        if not args:
            app.notify("Укажите путь: /index ПУТЬ [ИМЯ] [--ruslit]", severity="warning")
            return
        app.start_index(Path(args[0]).expanduser(),
                        args[1] if len(args) > 1 else app.session.index_name,
                        "ruslit" if command.flag("--ruslit") else "auto")
    elif name == "mode":
        mode = mode_from_word(rest) if rest else None
        if rest and mode is None:
            app.notify("Режимы: чат, документы, стихи.", severity="warning")
        elif mode is None:
            app.action_cycle_mode()
        else:
            app.action_set_mode(mode)
    elif name == "author":
        if rest:
            app.set_author(best_author(app.authors, rest) or rest)
        else:
            app.action_pick_author()
    elif name == "form":
        try:
            app.session.form = form_from_words(rest)
        except SettingsError as exc:
            app.notify(f"{exc}. Пример: /form ABAB ямб 4, /form auto, /form off",
                       severity="warning")
            return
        app.notify(f"Форма стихов: {form_words(app.session.form)}.")
    elif name == "new":
        await app.action_new_conversation()
    elif name == "history":
        app.action_history()
    elif name == "export":
        app.action_export(rest or None)
    elif name == "copy":
        app.action_copy_last()
    elif name == "settings":
        app.action_settings()
    elif name == "help":
        app.action_help()
    elif name == "quit":
        await app.action_quit()
