"""Text from documents made safe to show in a terminal.

Titles, paths, authors and passages come from files anyone can write; an ESC
sequence or a BEL in them would reach the terminal raw and could recolour it,
move the cursor, set its title or worse.  ``printable`` writes every control
character (C0, DEL, C1) as a visible ``\\xNN`` escape instead; both front ends
(the CLI's text output and the TUI) pass such text through it.  JSON output does
not: it escapes control characters itself and must stay exact.
"""

from __future__ import annotations

_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]

# Every control character -> '\xNN'; a tab becomes a space.
_ESCAPED = {code: f"\\x{code:02x}" for code in _CONTROLS} | {ord("\t"): " "}
# The same, but line breaks (and tabs) kept, for a passage shown on several lines.
_ESCAPED_KEEP_LINES = _ESCAPED | {ord("\n"): "\n", ord("\t"): "\t"}


def printable(text: str, lines: bool = False) -> str:
    """``text`` with control characters escaped (``'\\x1b'`` for ESC); with ``lines``
    newlines are kept (a passage shown on several lines), otherwise escaped too."""
    if lines:
        return text.replace("\r\n", "\n").translate(_ESCAPED_KEEP_LINES)
    return text.translate(_ESCAPED)


def one_line(text: str) -> str:
    """``text`` on one line: newlines (and CR) as spaces, other control characters escaped."""
    return printable(text.replace("\r\n", " ").replace("\n", " ").replace("\r", " "))
