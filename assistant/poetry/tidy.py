"""A generated poem cleaned of what is not the poem: markup and the footnotes after it.

The base model has read the web: a poem of the bundled 270M model can carry HTML
tags («<i>ищит</i>», «<u><strong>+ + + +</strong></u>») and, when it runs past its
end, a rule and a footnote («____», «* Примечание:»), as the pages it learnt from
do.  None of that is verse, and the form and fluency scores would count it.

The cleaning goes line by line (PoemTidier), so a poem is cleaned as it streams
(TidyStream: the chat, `lira serve`, `lira chat --plain`) and its generation
stops at the footnote; ``tidy_poem`` runs the same rules over a finished text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from assistant.poetry.constrained_lines import NOT_VERSE, is_verse

_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>\n]*)?/?>")
# a rule of underscores, dashes or equals signs, a footnote's heading, or «Конец» alone on
# its line (the end mark «###Конец» that the adapter learnt, written without its «###»)
# ends the poem
_AFTER_POEM = re.compile(r"^\s*(?:[_\-–—=]{3,}\s*$|\**\s*(?:примечани|сноск|комментари)"
                         r"|[#*\s]*конец[#*.!\s]*$)", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_LABEL = re.compile(r"^\s*\[[^\]\n]*\]:?\s*$")
# Lines held while waiting for the first line of verse: past this many, what came is taken
# as the poem (a poem with no line of verse then streams, instead of showing at its end)
BEFORE_VERSE = 5


class PoemTidier:
    """tidy_poem's rules for the lines of a poem as they come: a line is let out once
    what follows can no longer take it back.  Lines before the first line of verse wait
    for it, BEFORE_VERSE lines at most (those of figures, Latin letters or no letters
    before the poem are dropped then); lines of no letters wait for a line with letters (at
    the end they are dropped)."""

    def __init__(self) -> None:
        self.ended = False  # a rule or a footnote came: the poem is over
        self._held: list[str] = []
        self._before_verse = True
        self._started = False
        self._blank = False  # the last line let out was blank

    def line(self, line: str) -> str:
        """Take one whole line (without its newline); the text to let out now."""
        if self.ended:
            return ""
        line = _TAG.sub("", line)
        if _AFTER_POEM.match(line):
            self.ended = True
            return ""
        if _LABEL.match(line):
            return ""
        self._held.append(line.rstrip())
        if self._before_verse:
            verse = is_verse(line.strip())
            if not verse and len(self._held) <= BEFORE_VERSE:
                return ""
            self._before_verse = False
            while verse and (not _LETTER.search(self._held[0]) or NOT_VERSE.search(self._held[0])):
                self._held.pop(0)  # stops at this line of verse at the latest
        return self._let_out() if _LETTER.search(line) else ""

    def end(self) -> str:
        """The text still to let out once the poem has ended (a text with no line of
        verse keeps its first lines; lines of no letters at its end go)."""
        while self._held and not _LETTER.search(self._held[-1]):
            self._held.pop()
        return self._let_out()

    def _let_out(self) -> str:
        out = []
        for line in self._held:
            if line or (self._started and not self._blank):  # one blank line between stanzas
                out.append(("\n" if self._started else "") + line)
                self._started, self._blank = True, not line
        self._held = []
        return "".join(out)


def tidy_lines(pieces: Iterable[str], tidier: PoemTidier | None = None) -> Iterator[str]:
    """The text of ``pieces`` (a stream's, in any cuts) cleaned, a line at a time; stops
    reading ``pieces`` at a rule or a footnote (closing it, when it is a generator)."""
    tidier = tidier or PoemTidier()
    source = iter(pieces)
    try:
        for line in _whole_lines(source):
            if out := tidier.line(line):
                yield out
            if tidier.ended:
                break
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()  # a generation stream stops its worker on close
    if out := tidier.end():
        yield out


def _whole_lines(pieces: Iterator[str]) -> Iterator[str]:
    """The lines of the text ``pieces`` make, each once it is whole (the last at the end)."""
    buffer = ""
    for piece in pieces:
        *lines, buffer = (buffer + piece).split("\n")
        yield from lines
    if buffer:
        yield buffer


def tidy_poem(text: str) -> str:
    """``text`` without markup tags or bracketed labels («[Москва]»), cut before a rule,
    a footnote heading or a line «Конец», with one blank line between stanzas, without
    lines of figures or Latin letters (a date, a dedication) or of no letters (a stanza
    mark) before the poem or of no letters after it («* * *» inside stays).  A text with
    no line of verse in its first BEFORE_VERSE + 1 lines keeps them."""
    return "".join(tidy_lines([text]))


class TidyStream:
    """A poem's generation stream (runtime TextStream or the like) cleaned as it comes
    (tidy_lines); the generation stops at a rule or a footnote, as at a stop string."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    @property
    def stats(self) -> Any:
        return self.stream.stats

    @property
    def preset(self) -> Any:
        return self.stream.preset

    @property
    def cancel(self) -> Any:
        return self.stream.cancel

    def __iter__(self) -> Iterator[str]:
        tidier = PoemTidier()
        yield from tidy_lines(self.stream, tidier)
        if tidier.ended and self.stream.stats.stopped_by != "cancelled":
            self.stream.stats.stopped_by = "stop string"


def has_verse(text: str) -> bool:
    """Whether any line of ``text`` reads as Russian verse (constrained_lines.is_verse)."""
    return any(is_verse(line.strip()) for line in text.splitlines())
