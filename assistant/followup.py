"""Follow-up questions made standalone, so that retrieval sees what they refer to.

"А когда он умер?" after a question about Tesla retrieves nothing useful on its
own words.  A question that refers back (an anaphoric pronoun or adverb, or an
elliptical question: a short one that names nothing, or one opening with «а»,
«и», «ещё») is
searched together with what it refers back to: the names, numbers and key
terms of the previous exchange (its standalone question and its answer) that
the follow-up does not already say.  Rules, not the model: on the labelled
follow-up set (bench/followups.py) they are reliable, and they cost nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from adapters.rag_prompt import Source
from assistant.rag import CITATION
from index.lexical import STOPWORDS, stemmer

# Words that point back to something said before.  «это» and «этот» count: in a
# question they almost always mean "the thing we were talking about".
ANAPHORA = frozenset("""
он она оно они его её ее ему ей им их ими него неё нее нему ней ним ними нём нем них
этот эта это эти этого этой этому этим этом этих эту
тот та те того той тому тем том тех ту
там тогда туда оттуда тут здесь сюда отсюда такой такая такое такие таких такого
""".split())
# Openings of an elliptical follow-up: «А в каком году?», «И где?», «Ещё?».
OPENINGS = frozenset({"а", "и", "ещё", "еще", "также", "тоже", "ну"})
QUESTION_WORDS = frozenset("""
кто что где когда куда откуда почему зачем как какой какая какое какие каких каком какую
какого какой каким сколько чей чья чьё чье чьи который которая которое которые которого
""".split())
SHORT = 2  # a question of at most this many content words cannot stand alone
MAX_CARRIED = 8  # words carried forward: enough for a subject, not a second question
EARLIER_SLOTS = 2  # of a follow-up's k sources, at most this many kept from the last answer
ANSWER_WORDS = 12  # of the previous answer, only its opening (names, the fact) is carried

_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*", re.UNICODE)


@dataclass(frozen=True)
class Turn:
    """An earlier exchange of a conversation: the question, the answer, and (documents
    mode) the query that was searched for it and the sources the answer drew on."""

    question: str
    answer: str
    searched: str = ""
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class FollowUp:
    """A question read in its conversation: what to search for, and why."""

    question: str
    searched: str  # the question itself, or its standalone form
    refers_back: bool  # it needs the conversation to be understood
    carried: tuple[str, ...] = ()  # the words carried forward into ``searched``

    @property
    def rewritten(self) -> bool:
        return self.searched != self.question


def read_follow_up(question: str, turns: Sequence[Turn]) -> FollowUp:
    """``question`` as a follow-up of ``turns`` (oldest first): when it refers back and
    there is an earlier exchange, ``searched`` adds the words it refers back to."""
    question = question.strip()
    back = refers_back(question)
    if not back or not turns:
        return FollowUp(question, question, back)
    carried = carried_words(question, turns[-1], elliptical=not _has_anaphora(question))
    searched = f"{question} {' '.join(carried)}" if carried else question
    return FollowUp(question, searched, True, carried)


def refers_back(question: str) -> bool:
    """Whether ``question`` leans on what was said before (see the module's docstring):
    it has an anaphoric word, or it is elliptical: it opens with «а», «и», «ещё» and is
    short, or it is shorter still and names nothing («Почему?», «Сколько стоит?»)."""
    words = _WORD.findall(question)
    lower = [w.lower() for w in words]
    if not words:
        return False
    if _has_anaphora(question):
        return True
    content = [w for w in lower if _is_content(w)]
    if lower[0] in OPENINGS:
        return len(content) <= SHORT + 2
    names = any(w[:1].isupper() or w.isdigit() for w in words[1:])
    return len(content) <= SHORT and not names


def carried_words(question: str, turn: Turn, elliptical: bool = False) -> tuple[str, ...]:
    """The names and numbers of ``turn`` (its standalone question first, then the opening
    of its answer) whose stems ``question`` does not have, in order; for an ``elliptical``
    question («А в 1990 году?»), which borrows its predicate too, its key terms as well.

    A follow-up with a pronoun has its own predicate: carrying the earlier one's terms
    pulls the search back to the earlier passage (on the tuned half of the follow-up
    set, recall@1 0.916 with them, 0.964 with names and numbers only)."""
    have = set(_stems(_WORD.findall(question)))
    answer = CITATION.sub(" ", turn.answer)
    words = _WORD.findall(turn.searched or turn.question) + _WORD.findall(answer)[:ANSWER_WORDS]
    carried: list[str] = []
    for word in words:
        stem = _stems([word])[0]
        if _is_key(word, elliptical) and stem not in have:
            carried.append(word)
            have.add(stem)
        if len(carried) == MAX_CARRIED:
            break
    return tuple(carried)


def merge_sources(found: Sequence[Source], earlier: Sequence[Source], k: int) -> list[Source]:
    """The ``k`` sources of a follow-up: what its search found, in order, with up to
    EARLIER_SLOTS of the previous answer's sources that the search missed in the last
    places (they stay candidates, without pushing the new search's best down),
    renumbered 1..k."""
    have = {(s.path, s.text) for s in found}
    extra = [s for s in earlier[:EARLIER_SLOTS] if (s.path, s.text) not in have]
    kept = [*found[:max(k - len(extra), 0)], *extra][:k]
    return [Source(n, s.path, s.title, s.author, s.text, s.score) for n, s in enumerate(kept, 1)]


def earlier_exchange(turns: Sequence[Turn]) -> tuple[str, str] | None:
    """The previous question and its answer (citations removed: their numbers belong to
    another list of sources) for the prompt of a follow-up; None without one."""
    if not turns:
        return None
    answer = " ".join(CITATION.sub("", turns[-1].answer).split())
    return turns[-1].question.strip(), answer


def _is_content(word: str) -> bool:
    lower = word.lower()
    return (lower not in STOPWORDS and lower not in ANAPHORA and lower not in QUESTION_WORDS
            and lower not in OPENINGS and (len(lower) > 1 or lower.isdigit()))


def _is_key(word: str, terms: bool) -> bool:
    """A word worth carrying: a name or a number; with ``terms``, also a content word of
    some length."""
    if not _is_content(word):
        return False
    return word[:1].isupper() or word.isdigit() or (terms and len(word) >= 4)


def _has_anaphora(question: str) -> bool:
    return any(w.lower() in ANAPHORA for w in _WORD.findall(question))


def _stems(words: Sequence[str]) -> list[str]:
    return stemmer().stemWords([w.lower().replace("ё", "е") for w in words])
