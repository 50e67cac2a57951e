"""A generated poem cleaned of what is not the poem: markup and the footnotes after it.

The base model has read the web: a poem of the bundled 270M model can carry HTML
tags («<i>ищит</i>», «<u><strong>+ + + +</strong></u>») and, when it runs past its
end, a rule and a footnote («____», «* Примечание:»), as the pages it learnt from
do.  None of that is verse, and the form and fluency scores would count it.
"""

from __future__ import annotations

import re

from assistant.poetry.constrained_lines import NOT_VERSE, is_verse

_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>\n]*)?/?>")
# a rule of underscores, dashes or equals signs, or a footnote's heading, ends the poem
_AFTER_POEM = re.compile(r"^\s*(?:[_\-–—=]{3,}\s*$|\**\s*(?:примечани|сноск|комментари))",
                         re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_LABEL = re.compile(r"^\s*\[[^\]\n]*\]:?\s*$")


def tidy_poem(text: str) -> str:
    """``text`` without markup tags or bracketed labels («[Москва]»), cut before a rule or
    a footnote heading, without lines of figures or Latin letters (a date, a dedication)
    or of no letters (a stanza mark) before the poem or of no letters after it («* * *»
    inside stays).  A text with no line of verse keeps its first lines."""
    lines = []
    for line in _TAG.sub("", text).splitlines():
        if _AFTER_POEM.match(line):
            break
        if not _LABEL.match(line):
            lines.append(line.rstrip())
    if has_verse("\n".join(lines)):
        while not _LETTER.search(lines[0]) or NOT_VERSE.search(lines[0]):
            lines.pop(0)  # stops at the first line of verse at the latest
    while lines and not _LETTER.search(lines[-1]):
        lines.pop()
    return "\n".join(lines).strip("\n")


def has_verse(text: str) -> bool:
    """Whether any line of ``text`` reads as Russian verse (constrained_lines.is_verse)."""
    return any(is_verse(line.strip()) for line in text.splitlines())
