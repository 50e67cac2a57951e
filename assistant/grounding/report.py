"""The checker's results: a verdict per claim and the answer's score."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from assistant.grounding.question_check import StatementSignals
from assistant.grounding.scoring import VERDICTS, Signals


@dataclass
class Evidence:
    """The window that best matches a claim, and the source it is from."""

    source: str
    text: str
    n: int  # the source's citation number

    def to_dict(self) -> dict:
        return {"source": self.source, "text": self.text}


@dataclass
class ClaimVerdict:
    """One sentence of the answer, judged."""

    text: str
    verdict: str
    score: float
    evidence: Evidence | None
    cites: list[int] = field(default_factory=list)
    signals: Signals | StatementSignals | None = None  # StatementSignals: an answer's statement

    def to_dict(self, details: bool = False) -> dict:
        """``{"text", "verdict", "score", "evidence"}``; ``details`` adds cites and signals."""
        out = {"text": self.text, "verdict": self.verdict, "score": round(self.score, 4),
               "evidence": self.evidence.to_dict() if self.evidence else None}
        if details:
            out["cites"] = self.cites
            out["signals"] = self.signals.to_dict() if self.signals else None
        return out


@dataclass
class GroundingReport:
    """All claims of an answer; ``score`` is 1.0 when every one is supported."""

    score: float
    sentences: list[ClaimVerdict]

    @property
    def nothing_checked(self) -> bool:
        """No sentence stated a fact or a content word («Да [1].»): the score of 1.0 then
        says nothing about the answer, and the edges say so instead of showing it."""
        return not self.sentences

    def counts(self) -> dict[str, int]:
        """How many claims got each verdict."""
        found = Counter(s.verdict for s in self.sentences)
        return {v: found.get(v, 0) for v in VERDICTS}

    def to_dict(self, details: bool = False) -> dict:
        """``{"score", "nothing_checked", "sentences": [...]}`` as `lira check --json` prints
        it (with ``nothing_checked`` true the score of 1.0 means nothing)."""
        return {"score": round(self.score, 4), "nothing_checked": self.nothing_checked,
                "sentences": [s.to_dict(details) for s in self.sentences]}
