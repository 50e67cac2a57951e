"""Running a parsed slash command: each one calls the app action it stands for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from assistant.tui.commands import SlashCommand
from assistant.tui.screens.author import best_author
from assistant.tui.session import mode_from_word

if TYPE_CHECKING:
    from assistant.tui.app import LiraApp


async def run_slash_command(app: LiraApp, command: SlashCommand) -> None:
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
