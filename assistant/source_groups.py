"""An answer's sources as a reader weighs them: one entry per document.

Retrieval returns passages (chunks), numbered 1..k in the prompt, and two
chunks of one file are two numbers there.  A reader wants one entry per
document: ``group_sources`` merges the passages of one file (same path; for
sources without a path, same title and author), numbers the documents 1..d
by their best passage's rank, rewrites the answer's citations to those
numbers, gives each document a relevance in [0, 1] a reader can compare, and
marks in each passage the evidence window the grounding check used.

The raw passages stay as they were: the prompt, the grounding check and the
history keep their per-passage numbers; this module only shapes what front
ends (the TUI, ``lira ask``, ``lira serve``) show.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.rag import CITATION, Source
from index.fusion import fused_relevance

OVERLAP = 20  # shortest shared text that joins two passages (chunks overlap by more)
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Highlight:
    """Characters [start, end) of a passage that a claim's evidence window covers."""

    start: int
    end: int
    claim: int  # the claim's index in the grounding report
    verdict: str

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "claim": self.claim,
                "verdict": self.verdict}


@dataclass(frozen=True)
class Passage:
    """Text of one document, from one passage or several overlapping ones joined."""

    numbers: tuple[int, ...]  # the source numbers [n] of the passages it holds
    text: str
    highlights: tuple[Highlight, ...] = ()

    def to_dict(self) -> dict:
        return {"numbers": list(self.numbers), "text": self.text,
                "highlights": [h.to_dict() for h in self.highlights]}


@dataclass(frozen=True)
class Document:
    """One entry of the sources list.

    ``rank``: the retrieval rank of its best passage (1 is the best);
    ``relevance``: its best passage's fused search score as a share of the best
    possible (index.fusion.fused_relevance), capped by the entry above so that
    it never rises down the list: monotone in rank, relative to the question,
    not a probability.
    """

    n: int
    path: str
    title: str
    author: str
    rank: int
    relevance: float
    passages: tuple[Passage, ...]

    @property
    def numbers(self) -> tuple[int, ...]:
        """The source numbers of all its passages."""
        return tuple(n for p in self.passages for n in p.numbers)

    @property
    def name(self) -> str:
        """The title, else the file name, else a placeholder."""
        return self.title or self.path.rsplit("/", 1)[-1] or "без названия"

    def to_dict(self) -> dict:
        return {"n": self.n, "path": self.path, "title": self.title, "author": self.author,
                "rank": self.rank, "relevance": round(self.relevance, 3),
                "passages": [p.to_dict() for p in self.passages]}


@dataclass(frozen=True)
class SourceGroups:
    """The documents of an answer and which document each source number belongs to."""

    documents: tuple[Document, ...] = ()
    number: dict[int, int] = field(default_factory=dict)  # source n -> document n

    def renumber(self, text: str) -> str:
        """``text`` with every citation of a source rewritten to its document's number:
        numbers repeated in one mark ("[1, 1]") or in marks side by side ("[1][1]",
        "[1] [1]") are given once; a number that is no source is left as it is, and
        so is a text with no sources to number."""
        return _rewrite_runs(text, self._mark) if self.number else text

    def cited(self, numbers: Iterable[int]) -> list[int]:
        """The documents of the cited source ``numbers``, in order of first citation."""
        out: list[int] = []
        for n in numbers:
            document = self.number.get(n)
            if document is not None and document not in out:
                out.append(document)
        return out

    def stream(self) -> CitationStream:
        """A renumbering of text that arrives piece by piece (see CitationStream)."""
        return CitationStream(self)

    def _mark(self, run: list[tuple[str, str]]) -> str:
        """A run of side-by-side marks ((separator, mark) pairs) renumbered."""
        seen: set[int] = set()
        out = []
        for separator, mark in run:
            numbers = [int(x) for x in _NUMBER.findall(mark)]
            mapped = [self.number.get(n, n) for n in numbers]
            fresh = [n for i, n in enumerate(mapped) if n not in seen and n not in mapped[:i]]
            seen.update(mapped)
            if fresh:
                out.append((separator if out else "") + "[" + ", ".join(map(str, fresh)) + "]")
        return "".join(out)


class CitationStream:
    """Renumbers citations in text that streams in pieces.

    A mark can be cut between pieces ("[1" then "2]"), and a repeated mark may
    still follow, so a trailing run of marks is held back until the text goes
    on (or ``close`` ends it).  What ``feed`` and ``close`` return, joined, is
    exactly ``groups.renumber`` of the whole text.
    """

    def __init__(self, groups: SourceGroups) -> None:
        self.groups = groups
        self.raw = ""
        self.sent = 0

    def feed(self, piece: str) -> str:
        """The renumbered text that ``piece`` makes final (possibly empty)."""
        self.raw += piece
        return self._emit(self.groups.renumber(self.raw[:_held_from(self.raw)]))

    def close(self) -> str:
        """The rest, once the text has ended."""
        return self._emit(self.groups.renumber(self.raw))

    def _emit(self, shown: str) -> str:
        new, self.sent = shown[self.sent:], max(self.sent, len(shown))
        return new


def group_sources(sources: Sequence[Source], report: Any = None) -> SourceGroups:
    """The documents of ``sources`` (rag.Source, numbered as the prompt cites them) in
    order of their best rank, with the evidence windows of ``report`` (a grounding
    report, or None when the answer was not checked) marked in their passages."""
    keyed: dict[tuple, list[Source]] = {}
    for source in sorted(sources, key=lambda s: s.n):
        keyed.setdefault(_document_key(source), []).append(source)
    documents, number, ceiling = [], {}, 1.0
    for n, members in enumerate(keyed.values(), 1):
        first = members[0]
        ceiling = min(ceiling, max(fused_relevance(s.score) for s in members))
        passages = tuple(_with_highlights(p, report) for p in _join_passages(members))
        documents.append(Document(n, first.path, first.title, first.author, first.n, ceiling,
                                  passages))
        number.update((s.n, n) for s in members)
    return SourceGroups(tuple(documents), number)


def one_per_source(sources: Sequence[Source]) -> SourceGroups:
    """Each source its own entry, in its own number (a poem's style examples: several
    poems of one collection file are still several poems)."""
    documents = tuple(Document(s.n, s.path, s.title, s.author, s.n, fused_relevance(s.score),
                               (Passage((s.n,), s.text),)) for s in sources)
    return SourceGroups(documents, {s.n: s.n for s in sources})


def passage_dicts(sources: Sequence[Source], groups: SourceGroups) -> list[dict]:
    """The retrieved passages as the prompt numbered them, each naming its ``document``
    (the `--json` and `lira serve` field ``passages``)."""
    return [{"n": s.n, "path": s.path, "title": s.title, "text": s.text, "score": s.score,
             "document": groups.number.get(s.n)} for s in sources]


def grounding_dict(report: Any, groups: SourceGroups) -> dict | None:
    """A grounding report's dict with each evidence naming its ``document`` too; None
    for an answer that was not checked."""
    if report is None:
        return None
    out = report.to_dict()
    for sentence, verdict in zip(out["sentences"], report.sentences):
        if sentence.get("evidence") is not None and verdict.evidence is not None:
            sentence["evidence"]["document"] = groups.number.get(verdict.evidence.n)
    return out


def evidence_span(passage: str, window: str) -> tuple[int, int] | None:
    """Where the text of an evidence ``window`` stands in ``passage``: the checker joins a
    window's sentences with single spaces and drops list markers at line starts, so any
    run of white space (and such a marker) may stand between its words; None when absent."""
    tokens = window.split()
    if not tokens:
        return None
    for gap in (r"\s+", r"(?:\s|[-*•–—]|\d+[.)])+"):
        match = re.search(gap.join(map(re.escape, tokens)), passage)
        if match:
            return match.span()
    return None


def _document_key(source: Source) -> tuple:
    if source.path:
        return ("path", source.path)
    if source.title:
        return ("title", source.title, source.author)
    return ("passage", source.n)  # nothing names it: it stands alone


def _join_passages(members: list[Source]) -> list[Passage]:
    """The passages of one document, overlapping ones joined into one text."""
    passages = [Passage((s.n,), s.text) for s in members]
    joined = True
    while joined:
        joined = False
        for i, a in enumerate(passages):
            for j, b in enumerate(passages):
                text = _joined(a.text, b.text) if i != j else None
                if text is not None:
                    passages[i] = Passage(a.numbers + b.numbers, text)
                    del passages[j]
                    joined = True
                    break
            if joined:
                break
    return passages


def _joined(a: str, b: str) -> str | None:
    """``a`` followed by ``b`` when ``b`` repeats ``a``'s end (or lies inside ``a``)."""
    if b.strip() and b.strip() in a:
        return a
    head = b[:OVERLAP]
    if len(head) < OVERLAP:
        return None
    start = a.find(head)
    while start >= 0:
        if b.startswith(a[start:]):
            return a[:start] + b
        start = a.find(head, start + 1)
    return None


def _with_highlights(passage: Passage, report: Any) -> Passage:
    """``passage`` with the evidence windows of the report's claims that it holds."""
    marks = []
    for claim, verdict in enumerate(getattr(report, "sentences", None) or []):
        evidence = verdict.evidence
        if evidence is None or evidence.n not in passage.numbers:
            continue
        span = evidence_span(passage.text, evidence.text)
        if span is not None:
            marks.append(Highlight(span[0], span[1], claim, verdict.verdict))
    return Passage(passage.numbers, passage.text, tuple(sorted(marks, key=lambda h: h.start)))


_RUN = re.compile(rf"{CITATION.pattern}(?:\s*{CITATION.pattern})*")
_MARK = re.compile(rf"(\s*)({CITATION.pattern})")


def _rewrite_runs(text: str, rewrite) -> str:
    """``text`` with each run of side-by-side citation marks replaced by ``rewrite`` of
    its (separator, mark) pairs."""
    def one(match: re.Match) -> str:
        return rewrite([(m.group(1), m.group(2)) for m in _MARK.finditer(match.group(0))])

    return _RUN.sub(one, text)


def _held_from(text: str) -> int:
    """Where a trailing run of citation marks begins (the last one maybe unfinished,
    white space after it included): what follows may still change its renumbering."""
    partial = _mark_start(text, len(text), closed=False)
    start = len(text) if partial is None else partial
    end = len(text[:start].rstrip())
    while (found := _mark_start(text, end, closed=True)) is not None:
        start = found
        end = len(text[:found].rstrip())
    return start


def _mark_start(text: str, end: int, closed: bool) -> int | None:
    """The '[' of a citation mark that ends at ``end`` (``closed``: with its ']'; else an
    unfinished one, '[1, 2' or '['), or None."""
    i = end
    if closed:
        if i == 0 or text[i - 1] != "]":
            return None
        i -= 1
    while i > 0 and (text[i - 1].isdigit() or text[i - 1] in ", "):
        i -= 1
    return i - 1 if i > 0 and text[i - 1] == "[" else None
