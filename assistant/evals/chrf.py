"""chrF++ (sacrebleu's CHRF with word bigrams) over normalised text.

chrF++ is case-sensitive and counts whitespace differences, so hypothesis and
reference go through the same normalisation first: each line is stripped and
its runs of spaces collapsed, and blank lines (stanza breaks) are dropped, so
that formatting alone does not move the score.
"""

from __future__ import annotations

from pathlib import Path

from assistant.errors import SettingsError

NORMALISATION = ("lines stripped, runs of whitespace collapsed to one space, "
                 "blank lines dropped; case kept")


def normalise(text: str) -> str:
    """The text chrF++ sees: the same rule for hypotheses and references."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def chrf_report(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus chrF++ and one score per segment (0-100)."""
    from sacrebleu.metrics import CHRF

    if len(hypotheses) != len(references):
        raise SettingsError(f"{len(hypotheses)} hypotheses but {len(references)} references; "
                            "give one of each per line")
    if not hypotheses:
        raise SettingsError("no segments to score; the files are empty")
    metric = CHRF(word_order=2)
    hyps = [normalise(h) for h in hypotheses]
    refs = [normalise(r) for r in references]
    return {"metric": "chrF++", "n": len(hyps),
            "corpus": round(metric.corpus_score(hyps, [refs]).score, 2),
            "sentences": [round(metric.sentence_score(h, [r]).score, 2)
                          for h, r in zip(hyps, refs)],
            "normalisation": NORMALISATION}


def read_segments(path: Path) -> list[str]:
    """One segment per line of a UTF-8 file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read {path} as UTF-8 text ({exc})") from exc
    if "\x00" in text:  # valid UTF-8 can still be a binary file; NUL never occurs in text
        raise SettingsError(f"{path} is not a text file (it holds NUL bytes)")
    return text.splitlines()
