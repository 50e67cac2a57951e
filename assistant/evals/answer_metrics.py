"""Scores for short answers: exact match and token F1 (SQuAD's rules, made Russian), citations.

The normalisation and token F1 live in assistant.grounding.answer_overlap (the
badge compares answers with them too); citation marks are not part of an
answer and are scored on their own here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.grounding.answer_overlap import normalise_answer, strip_citations, token_f1

__all__ = ["RIGHT_F1", "badge_figures", "cited_numbers", "exact_match", "normalise_answer",
           "strip_citations", "token_f1"]

_CITATION = re.compile(r"\[(\d+)\]")


def cited_numbers(text: str) -> list[int]:
    """The passage numbers ``text`` cites, in order, without repeats."""
    return list(dict.fromkeys(int(n) for n in _CITATION.findall(text)))


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer."""
    guess = normalise_answer(prediction)
    return float(any(guess == normalise_answer(gold) for gold in golds))


RIGHT_F1 = 0.5  # an answer with token F1 this high or higher counts as right


def badge_figures(scores: Sequence[float], f1s: Sequence[float], green: float) -> dict:
    """How well an answer's grounding score tells right answers (F1 >= RIGHT_F1) from wrong.

    ``roc_auc``: of the score for right against wrong (None without both);
    ``wrong_green``: the share of wrong answers scoring ``green`` or more (a green
    badge); ``right_green``: the share of right answers that do.
    """
    from sklearn.metrics import roc_auc_score

    right = [f1 >= RIGHT_F1 for f1 in f1s]
    wrong_scores = [s for s, r in zip(scores, right) if not r]
    right_scores = [s for s, r in zip(scores, right) if r]

    def share(values: list[float]) -> float | None:
        return round(sum(v >= green for v in values) / len(values), 4) if values else None

    auc = roc_auc_score(right, scores) if wrong_scores and right_scores else None
    return {"right": len(right_scores), "wrong": len(wrong_scores), "green_at": green,
            "roc_auc": None if auc is None else round(float(auc), 4),
            "wrong_green": share(wrong_scores), "right_green": share(right_scores)}
