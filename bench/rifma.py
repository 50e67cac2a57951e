"""Rhyme schemes of `lira poem analyze` against RIFMA's gold schemes.

Reads ../shared/data/rifma/rifma.dev4002.json (``poem_text``, gold
``rhyme_scheme``; entries whose scheme is null are skipped) and prints:

- exact-scheme accuracy: the share of poems whose predicted scheme string
  (letters per stanza, stanzas separated by spaces) equals the gold one;
- rhyme-pair precision, recall and F1 (micro-averaged over all poems): every
  pair of lines in the same stanza is a rhyming pair when both carry the same
  letter (not '-'); F1 compares the predicted rhyming pairs with the gold ones,
  so it credits a partly right scheme and does not depend on letter names;
- line accuracy: the share of lines whose rhymed/unrhymed status is right,
  and per-line rhyme F1: the F1 of finding the rhymed lines (a line is
  rhymed when it shares its letter with another line of its stanza);

each for all poems, for the first 2,000 (on which the rhyme rules were tuned)
and for the rest (held out); then milliseconds per poem (stress model
included, loaded before the clock starts), the share of poems given a metre,
and the metres found.

    python bench/rifma.py [--limit N] [--no-stress] [--errors N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.runtime.offline import quiet_libraries  # noqa: E402  (offline, no progress bars)

quiet_libraries()

from assistant.poetry import stress  # noqa: E402
from assistant.poetry.form import analyze_poem  # noqa: E402

RIFMA = REPO.parent / "shared" / "data" / "rifma" / "rifma.dev4002.json"
TUNED_ON = 2000  # assistant/poetry/rhyme.py's rules were chosen looking at these poems only


def rhyming_pairs(scheme: str) -> set[tuple[int, int, int]]:
    """(stanza, line, line) for every two lines of a stanza that share a letter."""
    pairs = set()
    for s, stanza in enumerate(scheme.split(" ")):
        for i, j in combinations(range(len(stanza)), 2):
            if stanza[i] != "-" and stanza[i] == stanza[j]:
                pairs.add((s, i, j))
    return pairs


def rhymed_lines(scheme: str) -> list[bool]:
    """Per line: does it share its letter with another line of its stanza?"""
    flags = []
    for stanza in scheme.split(" "):
        counts = Counter(stanza)
        flags.extend(c != "-" and counts[c] > 1 for c in stanza)
    return flags


@dataclass
class Tally:
    """Counts over a group of poems."""

    poems: int = 0
    exact: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    lines_right: int = 0
    lines: int = 0
    line_tp: int = 0
    line_fp: int = 0
    line_fn: int = 0

    def add(self, gold: str, predicted: str) -> None:
        self.poems += 1
        self.exact += gold == predicted
        gold_pairs, predicted_pairs = rhyming_pairs(gold), rhyming_pairs(predicted)
        self.tp += len(gold_pairs & predicted_pairs)
        self.fp += len(predicted_pairs - gold_pairs)
        self.fn += len(gold_pairs - predicted_pairs)
        for g, p in zip(rhymed_lines(gold), rhymed_lines(predicted)):
            self.lines_right += g == p
            self.lines += 1
            self.line_tp += g and p
            self.line_fp += p and not g
            self.line_fn += g and not p

    def row(self, label: str) -> str:
        precision, recall, f1 = _scores(self.tp, self.fp, self.fn)
        return (f"{label:<22} {self.poems:>6} {self.exact / max(self.poems, 1):>7.3f} "
                f"{precision:>6.3f} {recall:>6.3f} {f1:>6.3f} "
                f"{self.lines_right / max(self.lines, 1):>7.3f} "
                f"{_scores(self.line_tp, self.line_fp, self.line_fn)[2]:>7.3f}")


def _scores(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1."""
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=RIFMA)
    parser.add_argument("--limit", type=int, help="Only the first N poems.")
    parser.add_argument("--no-stress", action="store_true", help="Letter-based rhymes only.")
    parser.add_argument("--errors", type=int, default=0, help="Print N mismatched poems.")
    parser.add_argument("--tuned-on", type=int, default=TUNED_ON,
                        help="The first N poems were used to choose the rhyme rules; "
                             "the rest are reported apart as held out.")
    args = parser.parse_args()

    entries = [e for e in json.loads(args.data.read_text(encoding="utf-8"))
               if e.get("rhyme_scheme")][:args.limit]
    if not args.no_stress and not stress.available():
        sys.exit("silero-stress is not installed; run with --no-stress or install it")
    tallies = {"all": Tally(), "tuning": Tally(), "held out": Tally()}
    metres: Counter = Counter()
    errors = []
    started = time.perf_counter()
    for number, entry in enumerate(entries):
        form = analyze_poem(entry["poem_text"], with_stress=not args.no_stress)
        gold, predicted = entry["rhyme_scheme"], form.rhyme_scheme
        for label in ("all", "tuning" if number < args.tuned_on else "held out"):
            tallies[label].add(gold, predicted)
        if gold != predicted and len(errors) < args.errors:
            errors.append((gold, predicted, entry["poem_text"]))
        metres[form.metre and f"{form.metre} {form.feet}"] += 1
    elapsed = time.perf_counter() - started
    for gold, predicted, text in errors:
        print(f"gold {gold}  predicted {predicted}\n{text}\n")
    n = len(entries)
    print(f"{'poems':<22} {'n':>6} {'exact':>7} {'P':>6} {'R':>6} {'F1':>6} {'lines':>7} "
          f"{'line F1':>7}")
    for label, tally in tallies.items():
        if tally.poems:
            print(tally.row(label))
    print(f"ms per poem            {1000 * elapsed / n:.1f}")
    print(f"metre found            {1 - metres[None] / n:.3f}")
    print("metres                 " + ", ".join(f"{m}: {c}" for m, c in metres.most_common(8)))


if __name__ == "__main__":
    main()
