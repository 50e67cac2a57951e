"""What `lira models` shows: each profile's model and where it resolves."""

from __future__ import annotations

from collections.abc import Callable

from assistant.errors import ModelNotFound
from assistant.runtime.adapter_choice import choose_adapter
from assistant.runtime.models import locate, prepare_bundled
from assistant.settings import Settings
from index.remote_api import is_remote


def profile_references(settings: Settings) -> list[tuple[str, str]]:
    """(role, reference) for every model the settings name, adapters included."""
    refs = [("chat", settings.chat.model), ("poem", settings.poem.model),
            ("embedder", settings.embedder)]
    for role, profile in (("chat adapter", settings.chat), ("poem adapter", settings.poem)):
        refs.append((role, profile.adapter or "none"))
    return refs


_PROFILES = {"chat adapter": "chat", "poem adapter": "poem"}


def model_rows(settings: Settings) -> list[dict]:
    """One row per profile entry: role, reference, source and path."""
    rows = []
    for role, reference in profile_references(settings):
        if role.endswith("adapter"):
            rows.append(_adapter_row(settings, role, reference))
            continue
        if is_remote(reference):  # on a server: nothing to locate here
            rows.append({"role": role, "reference": reference, "source": "OpenAI-compatible server",
                         "path": _server_url(settings, role)})
            continue
        try:
            found = locate(reference, settings)
            rows.append({"role": role, "reference": reference, "source": found.source,
                         "path": str(found.path) if found.path else None})
        except ModelNotFound as exc:
            rows.append({"role": role, "reference": reference, "source": "not found",
                         "path": None, "error": str(exc)})
    return rows


def _server_url(settings: Settings, role: str) -> str | None:
    return settings.embedder_base_url if role == "embedder" else getattr(settings, role).base_url


def _adapter_row(settings: Settings, role: str, reference: str) -> dict:
    profile = _PROFILES[role]
    model = getattr(settings, profile).model
    try:
        model_dir = locate(model, settings).path
    except ModelNotFound:
        model_dir = None
    choice = choose_adapter(reference, profile, model, model_dir, settings.home)
    return {"role": role, "reference": reference, "source": choice.source,
            "path": str(choice.path) if choice.path else None}


def prepare_all(settings: Settings, progress: Callable[[str], None] | None) -> None:
    """Prepare every bundled model that the settings use and is not ready."""
    for role, reference in profile_references(settings):
        if role.endswith("adapter") or is_remote(reference):  # a server's model: nothing to prepare
            continue
        try:
            found = locate(reference, settings)
        except ModelNotFound:
            continue
        if found.bundled and not found.ready:
            if progress:
                progress(f"preparing bundled model {found.bundled.name} (once)")
            prepare_bundled(found.bundled, settings, progress)
