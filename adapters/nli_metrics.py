"""Test results of an NLI classifier: accuracy overall and per set, and confusion matrices.

A three-way row is right when the most probable class is its label.  A
two-way row (TERRa's entailment / not_entailment) is right when the model's
entailment probability is above the other two together, the same split its
training loss makes; its confusion matrix is two-way too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.data_nli import LABELS, NOT_ENTAILMENT, NliPair

TWO_WAY = ("entailment", "not_entailment")


def nli_report(pairs: Sequence[NliPair], scores: Sequence[dict[str, float]]) -> dict[str, Any]:
    """``test_accuracy`` over all pairs, ``test_per_set`` and the 3-way ``test_confusion``."""
    sets: dict[str, list[tuple[NliPair, dict[str, float]]]] = {}
    for pair, score in zip(pairs, scores):
        sets.setdefault(pair.source or "data", []).append((pair, score))
    per_set = {name: _set_report(rows) for name, rows in sorted(sets.items())}
    correct = sum(r["correct"] for r in per_set.values())
    three_way = [row for name, rows in sets.items() if not _two_way(rows) for row in rows]
    return {"test_accuracy": round(correct / len(pairs), 4) if pairs else None,
            "test_n": len(pairs),
            "test_per_set": per_set,
            "test_confusion": _confusion(three_way, LABELS),
            "test_confusion_rows": "gold label; columns: predicted (the 3-way sets)"}


def predicted(score: dict[str, float], two_way: bool = False) -> str:
    """The class a probability dict stands for (entailment / not_entailment when ``two_way``)."""
    if two_way:
        entailed = score["entailment"] > score["neutral"] + score["contradiction"]
        return TWO_WAY[0] if entailed else TWO_WAY[1]
    return max(LABELS, key=lambda label: score[label])


def _set_report(rows: list[tuple[NliPair, dict[str, float]]]) -> dict[str, Any]:
    two_way = _two_way(rows)
    classes = TWO_WAY if two_way else LABELS
    correct = sum(_gold(pair, two_way) == predicted(score, two_way) for pair, score in rows)
    return {"n": len(rows), "correct": correct, "accuracy": round(correct / len(rows), 4),
            "labels": "2-way" if two_way else "3-way", "confusion": _confusion(rows, classes)}


def _two_way(rows: list[tuple[NliPair, dict[str, float]]]) -> bool:
    """A set with any not-entailment label is a two-way set, its entailment rows included."""
    return any(pair.label == NOT_ENTAILMENT for pair, _ in rows)


def _gold(pair: NliPair, two_way: bool) -> str:
    if two_way:
        return TWO_WAY[0] if pair.label == 0 else TWO_WAY[1]
    return LABELS[pair.label]


def _confusion(rows: Sequence[tuple[NliPair, dict[str, float]]],
               classes: Sequence[str]) -> dict[str, dict[str, int]]:
    two_way = tuple(classes) == TWO_WAY
    table = {gold: {guess: 0 for guess in classes} for gold in classes}
    for pair, score in rows:
        table[_gold(pair, two_way)][predicted(score, two_way)] += 1
    return table
