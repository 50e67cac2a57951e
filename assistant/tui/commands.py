"""Slash commands: their names, arguments and help, and parsing what was typed."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandSpec:
    """A slash command as listed in /help."""

    name: str
    args: str
    help: str


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("index", "ПУТЬ [ИМЯ] [--ruslit]", "проиндексировать файлы в фоне (чат доступен)"),
    CommandSpec("mode", "чат|документы|стихи", "сменить режим"),
    CommandSpec("author", "[ИМЯ]", "автор для режима «Стихи» (без имени — список)"),
    CommandSpec("form", "ABAB ямб 4 [СТРОФ] | auto | off",
                "форма стихов: рифма и размер строка за строкой (auto — как у автора)"),
    CommandSpec("new", "", "новый разговор"),
    CommandSpec("history", "", "разговоры: открыть, удалить"),
    CommandSpec("export", "[ФАЙЛ]", "сохранить разговор с источниками в Markdown"),
    CommandSpec("copy", "", "скопировать последний ответ в буфер обмена"),
    CommandSpec("settings", "", "k, температура, длина ответа, адаптер, индекс"),
    CommandSpec("help", "", "клавиши и команды"),
    CommandSpec("quit", "", "выход"),
)
NAMES = tuple(c.name for c in COMMANDS)


class CommandError(ValueError):
    """A slash command that cannot be run as typed (the message is for the user)."""


@dataclass(frozen=True)
class SlashCommand:
    """A parsed ``/name args`` line."""

    name: str
    args: tuple[str, ...] = ()
    rest: str = ""  # everything after the name, as typed

    def flag(self, name: str) -> bool:
        return name in self.args

    @property
    def positional(self) -> tuple[str, ...]:
        return tuple(a for a in self.args if not a.startswith("--"))


def is_command(text: str) -> bool:
    """True for ``/name …``; ``//…`` is a message that starts with a slash."""
    return text.startswith("/") and not text.startswith("//")


def parse_command(text: str) -> SlashCommand:
    """Parse a slash command; unknown names raise CommandError."""
    body = text.strip()[1:]
    name, _, rest = body.partition(" ")
    name = name.casefold()
    if name not in NAMES:
        known = " ".join("/" + n for n in NAMES)
        raise CommandError(f"Неизвестная команда /{name}. Команды: {known}")
    try:
        args = tuple(shlex.split(rest))
    except ValueError:  # an unbalanced quote: take the words as they are
        args = tuple(rest.split())
    return SlashCommand(name, args, rest.strip())


def unescape_message(text: str) -> str:
    """A message typed as ``//text`` is sent as ``/text``."""
    return text[1:] if text.startswith("//") else text
