"""Reading a training data file or folder in any of the formats Lira trains on.

The format is found by looking at the content (``--format`` overrides it):
a folder, an .xml or a .txt file, a PoetryCorpus dump or JSON lines of
author/text records are poems; a JSON object with ``data[].paragraphs`` is
SQuAD; records with ``instruction`` are instructions (or seed tasks), and so
are the rows of a .tsv or .csv file (adapters/data_tables.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.data_files import dropped_note, read_json
from adapters.data_instructions import instruction_examples, is_instruction_record
from adapters.data_nli import looks_like_nli
from adapters.data_poems import poem_examples
from adapters.data_squad import is_squad, squad_examples
from adapters.data_tables import is_table, map_records, read_table
from adapters.errors import TrainingDataError
from adapters.examples import Example

FORMATS = ("auto", "instructions", "squad", "poems", "nli")


@dataclass(frozen=True)
class DataOptions:
    """How to read and filter the training data."""

    format: str = "auto"
    seed: int = 42
    holdout_articles: int = 0  # SQuAD: the last N articles are kept out
    holdout_per_author: int = 0  # poems: the last N poems of each author are kept out
    poem_max_tokens: int = 600  # poems: longer poems are left out, as in the seed
    max_per_author: int | None = None  # poems: cap each author's training poems
    first_line_titles: bool = False  # poems: an untitled poem takes its first line as title
    max_examples: int | None = None  # keep only the first N examples (quick runs)
    columns: tuple[tuple[str, str], ...] = ()  # instructions: (field, column) pairs, --columns


@dataclass
class TrainingData:
    """Examples ready to encode, with what the manifest should say about them."""

    format: str
    examples: list[Example]
    holdout: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)


def load_training_data(paths: Sequence[Path], options: DataOptions,
                       count_tokens: Callable[[str], int]) -> TrainingData:
    """Read every file in ``paths`` into one list of examples (``--data`` may repeat).

    Raises TrainingDataError saying what is wrong with the first bad file.
    """
    parts = [_load_one(Path(path).expanduser(), options, count_tokens) for path in paths]
    if not parts:
        raise TrainingDataError("no training data given; pass --data FILE")
    formats = list(dict.fromkeys(part.format for part in parts))
    data = TrainingData("+".join(formats), [e for part in parts for e in part.examples],
                        [h for part in parts for h in part.holdout], {})
    for part in parts:
        for reason, count in part.dropped.items():
            data.dropped[reason] = data.dropped.get(reason, 0) + count
    if options.max_examples is not None:
        data.examples = data.examples[:options.max_examples]
    return data


def _load_one(path: Path, options: DataOptions,
              count_tokens: Callable[[str], int]) -> TrainingData:
    if not path.exists():
        raise TrainingDataError(f"data file {path} does not exist; check the path")
    if options.format not in FORMATS:
        raise TrainingDataError(f"unknown data format '{options.format}'; "
                                f"use one of {', '.join(FORMATS)}")
    kind, document = _detect(path, options.format, options.columns)
    if kind == "poems":
        poems = poem_examples(path, count_tokens, options.poem_max_tokens,
                              options.holdout_per_author, options.max_per_author, options.seed,
                              options.first_line_titles)
        data = TrainingData("poems", poems.examples, poems.holdout,
                            {k: v for k, v in poems.dropped.items() if v})
    elif kind == "squad":
        squad = squad_examples(document, options.seed, options.holdout_articles)
        data = TrainingData("squad", squad.examples, squad.holdout,
                            {"unanswerable": squad.skipped} if squad.skipped else {})
    else:
        examples, skipped = instruction_examples(document)
        data = TrainingData("instructions", examples, [], {"bad_record": skipped} if skipped else {})
    if not data.examples:
        raise TrainingDataError(f"no training examples in {path} (read as {data.format}"
                                f"{dropped_note(data.dropped)}); check the file and --format")
    return data


def data_sha256s(paths: Sequence[Path]) -> str:
    """One digest for several data files: the file's own digest when there is one."""
    digests = [data_sha256(path) for path in paths]
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("\n".join(digests).encode("ascii")).hexdigest()


def data_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, sorted)."""
    path = Path(path)
    if path.is_file():
        return _file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode("utf-8") + b"\0")
        digest.update(_file_sha256(file).encode("ascii"))
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _detect(path: Path, wanted: str, columns: Sequence[tuple[str, str]]) -> tuple[str, Any]:
    """The data's format and, for JSON formats, its parsed records."""
    if wanted == "nli" or (wanted == "auto" and looks_like_nli(path)):
        # NLI pairs train a classifier (adapters/nli_training.py), never prompt/answer examples.
        raise TrainingDataError(f"{path} holds NLI pairs, which train a classifier on their own; "
                                "give only NLI files to `lira train lora`")
    if path.is_dir() or path.suffix.lower() in (".xml", ".txt"):
        if wanted not in ("auto", "poems"):
            raise TrainingDataError(f"{path} holds poems (a folder, .xml or .txt), not {wanted}")
        return "poems", None
    if is_table(path):
        if wanted not in ("auto", "instructions"):
            raise TrainingDataError(f"{path} is a table of instructions, not {wanted}")
        return "instructions", read_table(path, columns)
    document = read_json(path)
    if wanted == "poems" or (wanted == "auto" and _looks_like_poems(document)):
        return "poems", None
    if is_squad(document):
        if wanted not in ("auto", "squad"):
            raise TrainingDataError(f"{path} is a SQuAD file, not {wanted}; use --format squad")
        return "squad", document
    if wanted == "squad":
        raise TrainingDataError(f"{path} is not a SQuAD file (no data[].paragraphs)")
    records = map_records(document if isinstance(document, list) else [document], columns, path)
    if wanted == "auto" and not any(is_instruction_record(r) for r in records[:50]):
        raise TrainingDataError(f"{path} is in no format Lira trains on: expected instruction "
                                "records, seed tasks, SQuAD or a poem corpus")
    return "instructions", records


def _looks_like_poems(document: Any) -> bool:
    if isinstance(document, list) and document and isinstance(document[0], dict):
        first = document[0]
        if any(isinstance(e, dict) and e.get("model") == "corpus.Poem" for e in document):
            return True
        return "text" in first and "author" in first and "instruction" not in first
    return False
