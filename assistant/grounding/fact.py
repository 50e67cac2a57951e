"""The fact record: a checkable value mentioned in a text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    """A value found in a text: its kind, a normalised value, and where it was."""

    # number, percent, year, date, month, name or quote; compared only with its own kind
    # (a changed year is no changed number)
    kind: str
    value: str
    text: str
    start: int = 0
    end: int = 0

    def to_dict(self) -> dict:
        return {"kind": self.kind, "value": self.value, "text": self.text}
