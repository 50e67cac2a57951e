"""Scores for short answers: exact match and token F1 (SQuAD's rules, made Russian), citations.

SQuAD normalises answers before comparing them: lower case, no punctuation, no
articles, single spaces.  Russian has no articles; instead "ё" is folded to
"е", which Russian texts use interchangeably.  Citation marks ("[2]") are not
part of an answer and are removed before scoring; they are scored on their own.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

_CITATION = re.compile(r"\[(\d+)\]")


def strip_citations(text: str) -> str:
    """``text`` without its [n] marks."""
    return " ".join(_CITATION.sub(" ", text).split())


def cited_numbers(text: str) -> list[int]:
    """The passage numbers ``text`` cites, in order, without repeats."""
    return list(dict.fromkeys(int(n) for n in _CITATION.findall(text)))


def normalise_answer(text: str) -> str:
    """Lower case, ё as е, punctuation dropped, whitespace collapsed; citations removed."""
    text = strip_citations(text).lower().replace("ё", "е")
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer."""
    guess = normalise_answer(prediction)
    return float(any(guess == normalise_answer(gold) for gold in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """The best token-overlap F1 of the prediction against any gold answer."""
    return max((_f1(normalise_answer(prediction).split(), normalise_answer(g).split())
                for g in golds), default=0.0)


def _f1(guess: list[str], gold: list[str]) -> float:
    if not guess or not gold:
        return float(guess == gold)
    common = sum((Counter(guess) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(guess), common / len(gold)
    return 2 * precision * recall / (precision + recall)


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
