"""Search from the shell: options from flags, batch files, JSON output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from assistant.errors import SettingsError
from index.filters import Filters
from index.search import Hit, SearchOptions

JSON_FIELDS = ("rank", "score", "path", "title", "author", "text")


def hit_json(hit: Hit) -> dict:
    """A search result as `lira search --json` prints it."""
    data = hit.to_dict()
    return {key: data[key] for key in JSON_FIELDS}


def result_json(query: str, hits: list[Hit]) -> dict:
    return {"query": query, "results": [hit_json(h) for h in hits]}


def read_queries(path: Path, defaults: SearchOptions) -> list[tuple[str, SearchOptions]]:
    """Queries from a file: plain lines, or JSONL with "query" and optional filters."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read queries from {path} ({exc}); "
                            "give a UTF-8 file with one query per line") from exc
    items = list(_parse(lines, path, defaults))
    if not items:
        raise SettingsError(f"{path} holds no queries; put one query per line")
    return items


def _parse(lines: list[str], path: Path, defaults: SearchOptions) -> Iterator[tuple[str, SearchOptions]]:
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith("{"):
            yield line, defaults
            continue
        try:
            record = json.loads(line)
            query = str(record["query"])
            filters = Filters.from_dict(record) if _has_filters(record) else defaults.filters
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SettingsError(f"{path}:{number}: not a query record ({exc}); "
                                'use {"query": "...", "author": "..."}') from exc
        yield query, SearchOptions(mode=record.get("mode", defaults.mode), filters=filters,
                                   mmr=record.get("mmr", defaults.mmr))


def _has_filters(record: dict) -> bool:
    return any(key in record for key in ("author", "title", "path", "year_from", "year_to", "kind"))
