"""Repairing a checked answer instead of only marking it (the ``on_unsupported`` setting).

``drop_unsupported`` removes the sentences the check called contradicted or
unsupported, their citation marks with them, and never all of an answer;
``evidence_quotes`` picks what a second try is shown (the windows the check
aligned).  Pure text work, no models: Engine.checked runs the models and the
second try (assistant/engine.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.grounding.claims import split_claims, split_sentences
from assistant.grounding.question_check import StatementSignals
from assistant.grounding.report import GroundingReport
from assistant.grounding.scoring import SUPPORTED

MARK, DROP, RETRY = "mark", "drop", "retry"
DROPPED, RETRIED, KEPT = "dropped", "retried", "kept"  # what a repair did


@dataclass(frozen=True)
class Repair:
    """What ``on_unsupported`` did to an answer: ``action`` (DROPPED: sentences removed,
    RETRIED: the second answer kept, KEPT: the answer left as generated), a ``note`` for
    the user, the answer as first generated with its check, and a second try's text
    (None: there was none)."""

    action: str
    note: str
    original: str
    original_check: Any = None
    second: str | None = None

    def to_dict(self, renumber: Callable[[str], str] = str) -> dict:
        """``{"action", "note", "original", "second"}``, the texts' citations passed
        through ``renumber`` (as the answer shows them)."""
        return {"action": self.action, "note": self.note, "original": renumber(self.original),
                "second": None if self.second is None else renumber(self.second)}


@dataclass
class _Unit:
    """A sentence of the answer as written: (line, text) pieces (a citation mark that
    stands alone belongs to the sentence before it) and its claim's text (None: no words)."""

    pieces: list[tuple[int, str]]
    claim: str | None
    verdict: str | None = field(default=None)


@dataclass(frozen=True)
class Dropped:
    """The answer with its unbacked sentences removed (``text``; the answer itself when
    none is removed), the sentences ``removed`` as written, and a ``note`` (None: nothing
    to say)."""

    text: str
    removed: list[str]
    note: str | None


def needs_repair(report: GroundingReport | None) -> bool:
    """Whether a check found a sentence it does not support."""
    return report is not None and any(s.verdict != SUPPORTED for s in report.sentences)


def drop_unsupported(answer: str, report: GroundingReport) -> Dropped:
    """``answer`` without the sentences ``report`` calls contradicted or unsupported.

    Sentences the check skipped (nothing to check: «Вот что я нашёл:») stay.  When no
    supported sentence would remain, the answer is kept whole, with a note saying so.
    """
    lines, units = _units(answer)
    _attach_verdicts(units, report)
    gone = [u for u in units if u.verdict not in (None, SUPPORTED)]
    if not gone:
        return Dropped(answer, [], None)
    if not any(u.verdict == SUPPORTED for u in units):
        return Dropped(answer, [], "ни одно предложение не подтверждено источниками — "
                                   "ответ оставлен целиком")
    removed = {id(u) for u in gone}
    kept = [u for u in units if id(u) not in removed]
    text = _rebuild(lines, kept)
    return Dropped(text, [" ".join(raw for _, raw in u.pieces) for u in gone],
                   f"убрано {_sentences(len(gone))} без опоры в источниках")


def evidence_quotes(report: GroundingReport, limit: int = 4) -> list[tuple[int, str]]:
    """(source number, window) pairs a second try is shown: the evidence windows the
    check aligned with the answer's sentences, unsupported ones first, each once."""
    ordered = sorted(report.sentences, key=lambda s: s.verdict == SUPPORTED)
    quotes: dict[str, int] = {}
    for sentence in ordered:
        if sentence.evidence is not None and sentence.evidence.text.strip():
            quotes.setdefault(sentence.evidence.text.strip(), sentence.evidence.n)
    return [(n, text) for text, n in quotes.items()][:limit]


def _units(answer: str) -> tuple[list[str], list[_Unit]]:
    """The answer's lines with their sentences as units; a line's leading list mark
    («- », «2) ») is kept in the line for the rebuild."""
    lines = answer.splitlines()
    units: list[_Unit] = []
    for number, line in enumerate(lines):
        for sentence in split_sentences(line):
            claims = split_claims(sentence)
            if not claims and units:  # "… России. [1]": the mark cites the sentence before
                units[-1].pieces.append((number, sentence))
                continue
            units.append(_Unit([(number, sentence)], claims[0].text if claims else None))
    return lines, units


def _attach_verdicts(units: list[_Unit], report: GroundingReport) -> None:
    """Each checked unit's verdict: an answer's statement (its first sentence judged as the
    answer to the question) is the first unit with words; the rest match by claim text."""
    verdicts = list(report.sentences)
    with_words = [u for u in units if u.claim is not None]
    if verdicts and with_words and isinstance(verdicts[0].signals, StatementSignals):
        with_words[0].verdict = verdicts.pop(0).verdict
        with_words = with_words[1:]
    position = 0
    for verdict in verdicts:
        for index in range(position, len(with_words)):
            if with_words[index].claim == verdict.text:
                with_words[index].verdict = verdict.verdict
                position = index + 1
                break


def _rebuild(lines: list[str], kept: list[_Unit]) -> str:
    """The lines again with only the kept sentences; a line left with none goes."""
    by_line: dict[int, list[str]] = {}
    for unit in kept:
        for number, raw in unit.pieces:
            by_line.setdefault(number, []).append(raw)
    had = {n for n, line in enumerate(lines) if split_sentences(line)}
    out = []
    for number, line in enumerate(lines):
        if number not in had:
            out.append(line)
        elif number in by_line:
            first = split_sentences(line)[0]
            out.append(line[:max(line.find(first), 0)] + " ".join(by_line[number]))
    return "\n".join(out).strip()


def _sentences(n: int) -> str:
    """'1 предложение', '3 предложения', '5 предложений'."""
    if n % 10 == 1 and n % 100 != 11:
        return f"{n} предложение"
    if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        return f"{n} предложения"
    return f"{n} предложений"
