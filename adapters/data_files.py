"""Reading a training data file as JSON, and saying which of its records were left out.

Shared by the readers of prompt/answer data (adapters/training_data.py) and
of NLI pairs (adapters/data_nli.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.errors import TrainingDataError


def read_json(path: Path) -> Any:
    """A .json document, or the list of records of a JSON lines file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingDataError(f"cannot read {path} as UTF-8 text ({exc}); "
                                "training data must be UTF-8 JSON or JSON lines") from exc
    if not text.strip():
        raise TrainingDataError(f"{path} is empty; give a file with training examples")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise TrainingDataError(f"{path} line {number} is not JSON ({exc.msg}); "
                                    "fix or remove that line") from exc
    return records


def dropped_note(dropped: dict[str, int]) -> str:
    """A message's tail naming what was left out ("; left out: 2 bad record"), or ""."""
    parts = [f"{count} {reason.replace('_', ' ')}" for reason, count in dropped.items() if count]
    return f"; left out: {', '.join(parts)}" if parts else ""
