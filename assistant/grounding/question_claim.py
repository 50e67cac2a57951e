"""An answer judged as an answer to its question: the question's statement with the answer in its slot.

"Сколько мячей перехватил Джош Норман?" answered "88 [1]" becomes the claim
"88 мячей перехватил Джош Норман": the question word gives way to the answer
and the rest of the question stays, so the claim says what the answer says
*about that subject*.  The answer's *focus* is what it adds to the question
(its words and figures the question does not have: "88"); the check then asks
whether the window that is about the question states the focus there
(checker.py), not merely whether "88" occurs somewhere in the sources.

A question with no question word ("Является ли ...?", a list of requests)
has no statement form; its answer is checked sentence by sentence as before.
An answer that already restates the question ("Джош Норман перехватил 88
мячей") is its own statement.  An answer that adds nothing to its question
("Основал Санкт-Петербург" for "Кто основал Санкт-Петербург?") has an empty
focus: it does not answer, so no evidence can state its focus, rather than
being checked as a sentence that the sources of course support.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.grounding.claims import Claim
from assistant.grounding.quantities import is_number_word
from assistant.grounding.words import PREFIX, Word, words
from assistant.rag import CITATION

# Question words, by the folded word; a preposition before one belongs to its phrase
# ("В каком году", "Из скольких").
_WH = frozenset({
    "кто", "кого", "кому", "кем", "ком", "что", "чего", "чему", "чем", "где", "когда", "куда",
    "откуда", "почему", "зачем", "как", "каков", "какова", "каково", "каковы", "сколько",
    "насколько",
    "скольких", "скольким", "сколькими", "чей", "чья", "чье", "чьи", "чьего", "чьей", "чьих",
    "какой", "какая", "какое", "какие", "какого", "какую", "каким", "какими", "каком",
    "каких", "какому", "какою", "который", "которая", "которое", "которые", "которого",
    "которой", "которую", "котором", "которым", "которых"})
_PREPOSITIONS = frozenset({"в", "во", "на", "из", "с", "со", "к", "ко", "по", "о", "об", "от",
                           "для", "до", "за", "при", "у", "через", "над", "под", "между", "про",
                           "после", "перед", "без", "около", "среди"})
RESTATES = 0.5  # share of the question's words an answer must repeat to be its own statement


@dataclass(frozen=True)
class QuestionClaim:
    """The statement an answer makes as an answer to its question.

    ``claim``: the statement with the answer's citations; ``focus``: the
    answer's own words (what the question does not say), which the evidence
    must state; ``topic``: the question without its question word; ``asked``:
    that word, folded ("сколько").
    """

    claim: Claim
    focus: str
    topic: str
    asked: str


def question_claim(question: str, answer: Claim) -> QuestionClaim | None:
    """The statement ``answer`` (the answer's first sentence) makes about ``question``.

    None when the question has no question word (yes/no and list questions);
    an answer that adds nothing to the question gets an empty focus.
    """
    asked = words(question)
    wh = _question_word(asked)
    if wh is None:
        return None
    said = words(answer.text)
    focus = _focus(answer.text, said, asked)
    start, end = _phrase(asked, wh, said)
    topic = _join(question[:asked[wh].start], question[asked[wh].end:])
    if not focus or _restates(said, asked, wh):
        text = answer.text
    else:
        text = _join(question[:asked[start].start], answer.text.rstrip(".!?…"),
                     question[asked[end].end:])
    return QuestionClaim(Claim(_sentence(text), list(answer.cites)), focus, topic,
                         asked[wh].lower)


def _question_word(asked: list[Word]) -> int | None:
    """The index of the question word (the first one: "Кто и когда ..." asks who first)."""
    # "Был ли ...": a yes/no question ("Хёсон Ли" is a name, not the particle)
    if any(w.lower == "ли" and not w.capitalised for w in asked):
        return None
    return next((i for i, w in enumerate(asked) if w.lower in _WH), None)


def _phrase(asked: list[Word], wh: int, said: list[Word]) -> tuple[int, int]:
    """The words the answer replaces: the question word, the words after it that the
    answer repeats ("каком году" for "2007 году"), and a preposition before it when the
    answer brings its own ("В каком году" for "в 2007 году")."""
    stems = {w.stem for w in said}
    end = wh
    while end + 1 < len(asked) and asked[end + 1].stem in stems:
        end += 1
    own = bool(said) and said[0].lower in _PREPOSITIONS
    start = wh - 1 if own and wh > 0 and asked[wh - 1].lower in _PREPOSITIONS else wh
    return start, end


def _focus(text: str, said: list[Word], asked: list[Word]) -> str:
    """The stretch of the answer from its first to its last word the question lacks."""
    known = {w.stem for w in asked} | {w.stem[:PREFIX] for w in asked if len(w.stem) >= PREFIX}
    kept = [w for i, w in enumerate(said)
            if w.stem not in known and w.stem[:PREFIX] not in known and not _filler(w, i)]
    if not kept:
        return ""
    end = kept[-1].end
    while end < len(text) and text[end] in "%‰°":  # "5,3%": the sign belongs to the figure
        end += 1
    return text[kept[0].start:end]


def _filler(word: Word, position: int) -> bool:
    """A preposition or stop word, unless it is part of a name ("Пётр Первый") or a number
    in words ("четыре")."""
    name = word.capitalised and position > 0
    return word.lower in _PREPOSITIONS or (word.is_stop and not word.lower.isdigit()
                                           and not name and not is_number_word(word.lower))


def _restates(said: list[Word], asked: list[Word], wh: int) -> bool:
    """Whether the answer repeats most of the question's content words (a full sentence)."""
    content = {w.stem for i, w in enumerate(asked) if i != wh and w.is_content}
    return bool(content) and len(content & {w.stem for w in said}) >= RESTATES * len(content)


def _join(*parts: str) -> str:
    return " ".join(" ".join(p.split()) for p in parts if p.strip()).strip(" ?")


def _sentence(text: str) -> str:
    text = " ".join(CITATION.sub(" ", text).split()).strip(" ?")
    text = re.sub(r"\s*\?\s*", ", ", text)  # a follow-up searched as "А когда? Петербург ..."
    return (text[:1].upper() + text[1:]).rstrip(".!?…") + "."
