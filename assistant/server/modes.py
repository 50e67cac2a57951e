"""Model names to Lira's modes: ``lira-documents`` (the served index),
``lira-documents:INDEX`` (another index), ``lira-chat`` and ``lira-poem``."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.chat.modes import Mode
from assistant.errors import SettingsError
from assistant.server.api_errors import ApiError
from assistant.settings import Settings, check_index_name

PREFIX = "lira-"
OWNER = "lira"


@dataclass(frozen=True)
class ModelChoice:
    """What a model name asks for: a mode and, in documents mode, an index."""

    mode: Mode
    index_name: str | None = None

    @property
    def profile(self) -> str:
        return self.mode.profile


def parse_model(name: str, default_index: str) -> ModelChoice:
    """The mode and index of a model name; a 404 for a name Lira does not serve."""
    base, _, index = name.partition(":")
    mode = base.removeprefix(PREFIX) if base.startswith(PREFIX) else ""
    if mode not in {m.value for m in Mode} or (index and mode != Mode.DOCUMENTS):
        raise ApiError(404, f"the model '{name}' does not exist; see GET /v1/models",
                       "model_not_found", "model")
    if mode != Mode.DOCUMENTS:
        return ModelChoice(Mode(mode))
    try:
        return ModelChoice(Mode.DOCUMENTS, check_index_name(index or default_index))
    except SettingsError as exc:
        raise ApiError(404, str(exc), "model_not_found", "model") from None


def model_names(settings: Settings) -> list[str]:
    """Every model name served: the modes, and documents mode over each other index."""
    names = [f"{PREFIX}{Mode.DOCUMENTS}"]
    folder = settings.indexes_dir
    others = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    names += [f"{PREFIX}{Mode.DOCUMENTS}:{n}" for n in others if n != settings.index_name]
    return names + [f"{PREFIX}{Mode.CHAT}", f"{PREFIX}{Mode.POEM}"]


def model_list(settings: Settings, created: int) -> dict:
    """The body of GET /v1/models."""
    return {"object": "list",
            "data": [{"id": n, "object": "model", "created": created, "owned_by": OWNER}
                     for n in model_names(settings)]}
