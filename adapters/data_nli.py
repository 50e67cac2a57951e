"""Natural language inference pairs: readers for the Russian NLI sets and a seeded test split.

Three shapes are read: JSON lines (or a JSON list) of ``premise`` /
``hypothesis`` / ``label`` records (TERRa, RCB, any generic set), a CSV with
``premise`` / ``hypothesis`` / ``label`` columns, and ru-WaNLI's CSV, whose
``text`` is "Предпосылка: … Гипотеза: …" with Russian labels.

Labels become three classes, entailment / neutral / contradiction.  TERRa's
``not_entailment`` is neither: in an RTE-style set it covers contradictions and
merely unsupported claims alike, so it stays a two-way label
(:data:`NOT_ENTAILMENT`) and the training loss asks only that the model put
its probability on neutral or contradiction, whichever it finds.  Mapping it
to neutral would teach the model that TERRa's contradictions are neutral,
the very confusion the grounding checks cannot afford.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.data_files import dropped_note, read_json
from adapters.errors import TrainingDataError

LABELS = ("entailment", "neutral", "contradiction")
NOT_ENTAILMENT = 3  # a two-way row: neutral or contradiction, the set does not say which
_LABEL_IDS = {
    "entailment": 0, "логическое следование": 0, "следование": 0,
    "neutral": 1, "нейтральная взаимосвязь": 1, "нейтрально": 1,
    "contradiction": 2, "противоречие": 2,
    "not_entailment": NOT_ENTAILMENT, "not entailment": NOT_ENTAILMENT,
    "non-entailment": NOT_ENTAILMENT,
}
# File stems that name a split rather than a set: the set is then the folder's name.
_SPLIT_STEMS = ("train", "val", "valid", "validation", "dev", "test", "data")
_WANLI_TEXT = re.compile(r"^\s*Предпосылка:\s*(.*?)\s*Гипотеза:\s*(.*?)\s*$", re.DOTALL)


@dataclass(frozen=True)
class NliPair:
    """One premise, one hypothesis and how they relate."""

    premise: str
    hypothesis: str
    label: int  # an index into LABELS, or NOT_ENTAILMENT
    source: str = ""  # the set it came from, for per-set reports


@dataclass
class NliData:
    """Training and test pairs, with what was left out and where each set's test came from."""

    train: list[NliPair]
    test: list[NliPair]
    dropped: dict[str, int] = field(default_factory=dict)
    test_origin: dict[str, str] = field(default_factory=dict)  # set -> "file" | "FRACTION held out"


def label_id(value: Any) -> int | None:
    """The class of a label (a name in English or Russian, or 0-2 as in MNLI); None if unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        return number if 0 <= number < len(LABELS) else None
    if isinstance(value, str):
        return _LABEL_IDS.get(" ".join(value.strip().lower().split()))
    return None


def set_name(path: Path) -> str:
    """The name a file's set goes by: ``terra/train.jsonl`` is terra, ``wanli.ru.csv`` wanli."""
    path = Path(path)
    stem = path.name.split(".", 1)[0]
    return path.parent.name if stem.lower() in _SPLIT_STEMS and path.parent.name else stem


def looks_like_nli(path: Path) -> bool:
    """Whether ``path`` holds NLI pairs in a shape :func:`read_nli` reads (first record only)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8-sig") as handle:
            if path.suffix.lower() == ".csv":
                return _csv_looks_like_nli(csv.DictReader(handle))
            first = _first_record(handle)
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return isinstance(first, dict) and "premise" in first and "hypothesis" in first


def read_nli(path: Path) -> tuple[list[NliPair], dict[str, int]]:
    """Every labelled pair in ``path``, and counts of the records left out and why."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TrainingDataError(f"NLI data file {path} does not exist; check the path")
    source = set_name(path)
    records = _csv_records(path) if path.suffix.lower() == ".csv" else _json_records(path)
    pairs, dropped = [], {}
    for record in records:
        pair, problem = _pair(record, source)
        if pair is None:
            dropped[problem] = dropped.get(problem, 0) + 1
        else:
            pairs.append(pair)
    if not pairs:
        raise TrainingDataError(f"no labelled NLI pairs in {path}{dropped_note(dropped)}; "
                                "expected premise/hypothesis/label records or ru-WaNLI's "
                                "text/label CSV")
    return pairs, dropped


def nli_data(train_paths: Sequence[Path], test_paths: Sequence[Path], test_fraction: float,
             seed: int) -> NliData:
    """Read the sets and split off the test pairs.

    A set with a test file of its own (same :func:`set_name`) is tested on that
    file only; any other set gives a seeded ``test_fraction`` of its pairs.
    Training pairs that also occur in the test split are left out.
    """
    if not 0 <= test_fraction < 1:
        raise TrainingDataError(f"--test-fraction must be in [0, 1), not {test_fraction}")
    data = NliData([], [])
    for path in test_paths:
        pairs, dropped = read_nli(path)
        data.test += pairs
        data.test_origin[set_name(path)] = "file"
        _count(data.dropped, dropped)
    for path in train_paths:
        pairs, dropped = read_nli(path)
        _count(data.dropped, dropped)
        source = set_name(path)
        if source not in data.test_origin and test_fraction > 0:
            pairs, held = _hold_out(pairs, test_fraction, f"{seed}:{source}")
            data.test += held
            data.test_origin[source] = f"{test_fraction:g} held out"
        data.train += pairs
    _drop_test_pairs(data)
    if not data.train:
        raise TrainingDataError("no NLI pairs are left for training after the test split")
    return data


def _pair(record: Any, source: str) -> tuple[NliPair | None, str]:
    if not isinstance(record, dict):
        return None, "bad_record"
    premise, hypothesis = record.get("premise"), record.get("hypothesis")
    if premise is None and isinstance(record.get("text"), str):
        match = _WANLI_TEXT.match(record["text"])
        premise, hypothesis = match.groups() if match else (None, None)
    if not (isinstance(premise, str) and isinstance(hypothesis, str)
            and premise.strip() and hypothesis.strip()):
        return None, "no_premise_or_hypothesis"
    label = label_id(record.get("label"))
    if label is None:
        return None, "unknown_label"
    return NliPair(premise.strip(), hypothesis.strip(), label, source), ""


def _csv_kind(columns: Sequence[str]) -> str | None:
    names = {c.strip().lower() for c in columns if c}
    if {"premise", "hypothesis", "label"} <= names:
        return "pairs"
    if {"text", "label"} <= names:
        return "wanli"
    return None


def _csv_looks_like_nli(reader: csv.DictReader) -> bool:
    kind = _csv_kind(reader.fieldnames or [])
    if kind != "wanli":
        return kind is not None
    # A text/label CSV is NLI only when its text is a premise and a hypothesis.
    row = next(reader, None) or {}
    text = next((v for k, v in row.items() if (k or "").strip().lower() == "text"), "")
    return bool(_WANLI_TEXT.match(text or ""))


def _csv_records(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if _csv_kind(reader.fieldnames or []) is None:
                raise TrainingDataError(f"{path} has columns {', '.join(reader.fieldnames or [])}; "
                                        "an NLI CSV needs premise/hypothesis/label or text/label")
            return [{(k or "").strip().lower(): v for k, v in row.items()} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TrainingDataError(f"cannot read {path} as a UTF-8 CSV ({exc})") from exc


def _json_records(path: Path) -> list[Any]:
    document = read_json(path)
    return document if isinstance(document, list) else [document]


def _first_record(handle: Any) -> Any:
    for line in handle:
        if line.strip():
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None  # a pretty-printed JSON document; not the NLI shape read here
    return None


def _hold_out(pairs: list[NliPair], fraction: float,
              seed: str) -> tuple[list[NliPair], list[NliPair]]:
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    count = min(max(round(len(pairs) * fraction), 1), len(pairs) - 1) if len(pairs) > 1 else 0
    held = set(order[:count])
    return ([p for i, p in enumerate(pairs) if i not in held],
            [p for i, p in enumerate(pairs) if i in held])


def _drop_test_pairs(data: NliData) -> None:
    tested = {(p.premise, p.hypothesis) for p in data.test}
    kept = [p for p in data.train if (p.premise, p.hypothesis) not in tested]
    if len(kept) < len(data.train):
        data.dropped["also_in_test"] = len(data.train) - len(kept)
    data.train = kept


def _count(total: dict[str, int], more: dict[str, int]) -> None:
    for reason, count in more.items():
        total[reason] = total.get(reason, 0) + count

