"""Finding adapter folders: the ones installed under LIRA_HOME/adapters and any bundled here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.errors import AdapterError
from adapters.loading import inspect_adapter
from adapters.manifest import read_manifest

# Adapters shipped with the repository, one folder each (none yet).
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
_METHOD_NAMES = {"LORA": "lora", "IA3": "ia3", "PROMPT_TUNING": "prompt-tuning"}


@dataclass(frozen=True)
class AdapterEntry:
    """One adapter folder and what its manifest (or adapter_config.json) says."""

    name: str
    source: str  # installed | bundled
    path: str
    method: str | None = None
    base: str | None = None
    train_loss: float | None = None
    eval_loss: float | None = None
    created: str | None = None
    problem: str | None = None  # why the folder cannot be loaded, if it cannot

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_adapters(roots: Sequence[tuple[str, Path]]) -> list[AdapterEntry]:
    """Every adapter folder directly under each (source, root), sorted by name."""
    entries = []
    for source, root in roots:
        if not Path(root).is_dir():
            continue
        for folder in sorted(p for p in Path(root).iterdir()
                             if p.is_dir() and not p.name.startswith(".")):
            entries.append(describe_adapter(folder, source))
    return entries


def describe_adapter(folder: Path, source: str = "installed") -> AdapterEntry:
    """An entry for ``folder``; a broken folder is listed with its problem, not skipped."""
    try:
        info = inspect_adapter(folder)
        manifest = read_manifest(folder) or {}
    except AdapterError as exc:
        return AdapterEntry(folder.name, source, str(folder), problem=str(exc))
    result = manifest.get("result") or {}
    return AdapterEntry(
        name=folder.name, source=source, path=str(folder),
        method=manifest.get("method") or _METHOD_NAMES.get(info.peft_type, info.peft_type.lower()),
        base=(manifest.get("base") or {}).get("reference") or info.base_model,
        train_loss=result.get("train_loss"), eval_loss=result.get("eval_loss"),
        created=manifest.get("created") or _mtime(folder))


def _mtime(folder: Path) -> str:
    stamp = datetime.fromtimestamp(folder.stat().st_mtime, tz=UTC)
    return stamp.isoformat(timespec="seconds")
