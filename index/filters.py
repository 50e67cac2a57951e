"""Search filters on document metadata, turned into SQL over the catalog."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from index.paths import stored_path


@dataclass(frozen=True)
class Filters:
    """Restrict a search; every field left as None matches everything.

    ``author`` and ``title`` match case-insensitively as substrings (Cyrillic
    included); ``path`` is a glob (``*/poems/*``); years are inclusive.
    """

    author: str | None = None
    title: str | None = None
    path: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    kind: str | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in asdict(self).values())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Filters:
        """Filters from a JSON object, ignoring unknown keys."""
        known = {k: data[k] for k in asdict(cls()) if data.get(k) not in (None, "")}
        for key in ("year_from", "year_to"):
            if key in known:
                known[key] = int(known[key])
        return cls(**known)

    def where(self) -> tuple[str, list[Any]]:
        """A SQL condition over documents aliased ``d``, and its parameters.

        ``casefold`` is a function the store registers on its connection,
        because SQLite's own lower() only folds ASCII.
        """
        clauses, params = [], []
        if self.author is not None:
            clauses.append("instr(casefold(d.author), ?) > 0")
            params.append(self.author.casefold())
        if self.title is not None:
            clauses.append("instr(casefold(d.title), ?) > 0")
            params.append(self.title.casefold())
        if self.path is not None:
            clauses.append("d.path GLOB ?")
            params.append(stored_path(self.path))  # paths are stored escaped (index.paths)
        if self.year_from is not None:
            clauses.append("d.year >= ?")
            params.append(self.year_from)
        if self.year_to is not None:
            clauses.append("d.year <= ?")
            params.append(self.year_to)
        if self.kind is not None:
            clauses.append("d.kind = ?")
            params.append(self.kind)
        return (" AND ".join(clauses) or "1"), params
