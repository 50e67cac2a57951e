"""How much two short answers agree: SQuAD's token F1, its normalisation made Russian.

SQuAD normalises answers before comparing them: lower case, no punctuation, no
articles, single spaces.  Russian has no articles; instead "ё" is folded to
"е", which Russian texts use interchangeably.  Citation marks ("[2]") are not
part of an answer and are removed first.  The evals score answers against gold
ones with it (assistant.evals.answer_metrics); the badge compares the chat
model's answer with its answer over the passages in reverse order (confidence.py).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence

from assistant.rag import CITATION


def first_line(text: str) -> str:
    """The first non-blank line of a generated answer."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def strip_citations(text: str) -> str:
    """``text`` without its [n] marks."""
    return " ".join(CITATION.sub(" ", text).split())


def normalise_answer(text: str) -> str:
    """Lower case, ё as е, punctuation dropped, whitespace collapsed; citations removed."""
    text = strip_citations(text).lower().replace("ё", "е")
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(text.split())


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
