"""Instruction data in tables: TSV and CSV files, and the mapping of their columns.

The seed 001 read lksy/ru_instruct_gpt4 from TSV files with the columns
``instruction``, ``input``, ``output`` and ``full_output``; other tables name
them otherwise, so ``--columns instruction=question,output=answer`` says which
column holds which field.  The same mapping renames the keys of JSON records
(``--columns output=full_output`` trains on the long answers).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from adapters.errors import TrainingDataError

TABLE_SUFFIXES = {".tsv": "\t", ".csv": ","}
FIELDS = ("instruction", "input", "output")  # what a column can be mapped to
REQUIRED = ("instruction", "output")


def is_table(path: Path) -> bool:
    """Whether ``path`` is a TSV or CSV file (by its suffix)."""
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def parse_columns(text: str | None) -> tuple[tuple[str, str], ...]:
    """``"instruction=question,output=answer"`` as ((field, column), ...); a one-line error
    for a pair without ``=`` or a field Lira does not train on."""
    pairs = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        field, sep, column = (part.strip() for part in item.partition("="))
        if not sep or not field or not column:
            raise TrainingDataError(f"--columns takes FIELD=COLUMN pairs separated by commas, "
                                    f"not '{item.strip()}'")
        if field not in FIELDS:
            raise TrainingDataError(f"--columns: unknown field '{field}'; map "
                                    f"{', '.join(FIELDS)} to the file's columns")
        pairs.append((field, column))
    return tuple(pairs)


def read_table(path: Path, columns: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The rows of a TSV/CSV file as instruction records, with ``columns`` applied."""
    path = Path(path)
    # A long answer can outgrow the csv module's default field limit of 128 KiB.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=TABLE_SUFFIXES[path.suffix.lower()])
            header = [name.strip() for name in reader.fieldnames or []]
            mapping = _mapping(path, header, columns)
            rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TrainingDataError(f"cannot read {path} as a UTF-8 table ({exc}); "
                                "check its encoding and quoting") from exc
    return [{field: row.get(column) for field, column in mapping.items()} for row in rows]


def map_records(records: Sequence[Any], columns: Sequence[tuple[str, str]],
                path: Path) -> list[Any]:
    """JSON records with their keys renamed as ``columns`` says (unchanged without it)."""
    if not columns:
        return list(records)
    keys = list(dict.fromkeys(k for r in records[:50] if isinstance(r, dict) for k in r))
    mapping = _mapping(path, keys, columns)
    return [{field: r.get(column) for field, column in mapping.items()} if isinstance(r, dict)
            else r for r in records]


def _mapping(path: Path, names: Sequence[str],
             columns: Sequence[tuple[str, str]]) -> Mapping[str, str]:
    """Field -> column: the given ones, the rest by their own names; refuses a missing one."""
    mapping = {field: field for field in FIELDS} | dict(columns)
    missing = [f"{column} (for {field})" if column != field else column
               for field, column in mapping.items()
               if column not in names and (field in REQUIRED or field in dict(columns))]
    if missing:
        raise TrainingDataError(f"{path} has no column {', '.join(missing)}; its columns are "
                                f"{', '.join(names) or 'none'}; map them with --columns "
                                "instruction=COLUMN,output=COLUMN")
    return {field: column for field, column in mapping.items() if column in names}

