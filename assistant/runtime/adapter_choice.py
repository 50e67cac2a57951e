"""Which adapter a profile loads: its setting resolved to a folder, or none.

A profile's adapter setting is one of: ``auto`` (the default: the adapter
bundled for the profile, when it was trained on the profile's base model;
for another base, the newest adapter under LIRA_HOME/adapters trained on
that base for that profile's role), ``none`` (the base alone), a folder, or
a name looked up under LIRA_HOME/adapters and then among the bundled
adapters.  ``auto`` falls back to the base alone when no adapter fits, so
pointing the chat at another model needs no second setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adapters.errors import AdapterFolderError
from adapters.manifest import MANIFEST_FILE, adapter_role, folder_fingerprint, read_manifest
from adapters.registry import BUNDLED_DIR
from assistant.errors import SettingsError

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
        return _auto(profile, model, model_dir, home)
    path = Path(reference).expanduser()
    if path.exists() or "/" in reference:
        return AdapterChoice(path, "local folder" if path.is_dir() else "missing")
    for folder, source in named_locations(reference, home):
        if folder.is_dir():
            return AdapterChoice(folder, source)
    return AdapterChoice(path, "missing")


def named_adapter(reference: str, home: Path) -> Path:
    """The folder of an adapter given as a folder or a name, as ``--adapter`` takes it in
    every command; a SettingsError when there is none (``auto`` and ``none`` name none)."""
    choice = choose_adapter(reference, "chat", "", None, home)
    if choice.source == "missing" and "/" in reference:
        raise SettingsError(f"adapter folder {reference} does not exist; check the path")
    if choice.path is None or choice.source == "missing":
        raise SettingsError(f"no adapter '{reference}': not a folder, not in {home / 'adapters'}, "
                            "not bundled; `lira adapters list` shows them")
    return choice.path


def named_locations(name: str, home: Path) -> tuple[tuple[Path, str], ...]:
    """Where an adapter given by name may be, in the order they are tried."""
    return ((home / "adapters" / name, "installed"), (BUNDLED_DIR / name, "bundled"))


def newest_installed(profile: str, fingerprint: dict | None, home: Path) -> Path | None:
    """The newest adapter under LIRA_HOME/adapters whose manifest names the base of this
    ``fingerprint`` (see _fingerprint) and the role of ``profile``; None if there is none."""
    root = home / "adapters"
    if fingerprint is None or not root.is_dir():
        return None
    fitting = []
    for folder in root.iterdir():
        try:
            manifest = read_manifest(folder) if folder.is_dir() else None
        except AdapterFolderError:  # a broken folder is listed as such, never chosen
            continue
        if (manifest and adapter_role(manifest) == profile
                and (manifest.get("base") or {}).get("fingerprint") == fingerprint):
            # "created" has whole seconds: two adapters of one minute go by their files' times
            stamp = (folder / MANIFEST_FILE).stat().st_mtime_ns
            fitting.append((manifest.get("created") or "", stamp, folder.name, folder))
    return max(fitting)[-1] if fitting else None


def _auto(profile: str, model: str, model_dir: Path | None, home: Path) -> AdapterChoice:
    """The bundled adapter when it was trained on this base (by reference, else by
    fingerprint), else the newest own one for it, else the base alone."""
    folder = BUNDLED_DIR / PROFILE_DEFAULTS.get(profile, "")
    manifest = read_manifest(folder) if folder.is_dir() else None
    base = (manifest or {}).get("base") or {}
    if manifest and base.get("reference") == model:
        return AdapterChoice(folder, "bundled default")
    actual = _fingerprint(model_dir)  # read once: the config is parsed by transformers
    if manifest and actual is not None and base.get("fingerprint") == actual:
        return AdapterChoice(folder, "bundled default")
    own = newest_installed(profile, actual, home)
    if own:
        return AdapterChoice(own, "installed (the newest for this base)")
    if not manifest:
        return AdapterChoice(None, "base model alone")
    return AdapterChoice(None, f"base model alone (the bundled adapter is for {base.get('reference')})")


def _fingerprint(model_dir: Path | None) -> dict | None:
    """The base's fingerprint as training records it (from transformers' full config, with
    its defaults: the raw config.json gives another digest), or None when unreadable."""
    if model_dir is None or not (model_dir / "config.json").is_file():
        return None
    try:
        return folder_fingerprint(model_dir)
    except (OSError, ValueError):
        return None
