"""Which adapter a profile loads: its setting resolved to a folder, or none.

A profile's adapter setting is one of: ``auto`` (the default: the adapter
bundled for the profile, when it was trained on the profile's base model),
``none`` (the base alone), a folder, or a name looked up under
LIRA_HOME/adapters and then among the bundled adapters.  ``auto`` falls back
to the base alone for a base the bundled adapter does not fit, so pointing the
chat at another model needs no second setting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from adapters.manifest import base_fingerprint, read_manifest
from adapters.registry import BUNDLED_DIR

AUTO, NONE = "auto", "none"
# The adapter shipped for each profile (adapters/bundled/NAME).
PROFILE_DEFAULTS = {"chat": "chat", "poem": "poet"}


@dataclass(frozen=True)
class AdapterChoice:
    """The folder to load (None: the base alone) and why."""

    path: Path | None
    source: str  # base model alone | bundled default | bundled | installed | local folder | missing


def choose_adapter(reference: str | None, profile: str, model: str, model_dir: Path | None,
                   home: Path) -> AdapterChoice:
    """Resolve a profile's adapter setting; ``model_dir`` is the base's folder, if known."""
    if reference in (None, "", NONE):
        return AdapterChoice(None, "base model alone")
    if reference == AUTO:
        return _bundled_default(profile, model, model_dir)
    path = Path(reference).expanduser()
    if path.exists() or "/" in reference:
        return AdapterChoice(path, "local folder" if path.is_dir() else "missing")
    for folder, source in named_locations(reference, home):
        if folder.is_dir():
            return AdapterChoice(folder, source)
    return AdapterChoice(path, "missing")


def named_locations(name: str, home: Path) -> tuple[tuple[Path, str], ...]:
    """Where an adapter given by name may be, in the order they are tried."""
    return ((home / "adapters" / name, "installed"), (BUNDLED_DIR / name, "bundled"))


def _bundled_default(profile: str, model: str, model_dir: Path | None) -> AdapterChoice:
    folder = BUNDLED_DIR / PROFILE_DEFAULTS.get(profile, "")
    manifest = read_manifest(folder) if folder.is_dir() else None
    if not manifest:
        return AdapterChoice(None, "base model alone")
    base = manifest.get("base") or {}
    if base.get("reference") == model or _same_base(base.get("fingerprint"), model_dir):
        return AdapterChoice(folder, "bundled default")
    return AdapterChoice(None, f"base model alone (the bundled adapter is for {base.get('reference')})")


def _same_base(fingerprint: dict | None, model_dir: Path | None) -> bool:
    config = model_dir / "config.json" if model_dir else None
    if not fingerprint or config is None or not config.is_file():
        return False
    try:
        return base_fingerprint(json.loads(config.read_text(encoding="utf-8"))) == fingerprint
    except (OSError, ValueError):
        return False
