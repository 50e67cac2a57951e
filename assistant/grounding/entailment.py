"""Checking answers against their sources with the embedder and NLI model the settings name.

The ``nli`` setting is ``auto`` (Lira's own NLI adapter shipped in
adapters/bundled/nli, when present), ``none`` (facts, wording and embeddings
only), a Lira NLI adapter folder, or any sequence-classification NLI model
(a folder or a cached Hub id) that assistant.grounding.nli can map to the
three labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.manifest import read_manifest
from adapters.nli import NliModel, NliOptions
from adapters.registry import BUNDLED_DIR
from assistant.grounding.nli import load_nli
from assistant.runtime import compute
from assistant.runtime.adapter_choice import named_locations
from assistant.runtime.loading import pick_device
from assistant.runtime.models import resolve
from assistant.settings import Settings

AUTO = "auto"


def nli_reference(settings: Settings, override: str | None = None) -> str | None:
    """The NLI model to load (``override``, else the nli setting), or None for none.

    A name of a Lira adapter (LIRA_HOME/adapters/NAME, else adapters/bundled/NAME)
    becomes its folder; anything else is passed on as a model folder or Hub id.
    """
    value = settings.nli if override is None else override
    if value in (None, "", "none"):
        return None
    if value == AUTO:
        bundled = BUNDLED_DIR / "nli"
        return str(bundled) if _is_lira_adapter(bundled) else None
    if "/" not in value and "\\" not in value:
        for folder, _ in named_locations(value, settings.home):
            if _is_lira_adapter(folder):
                return str(folder)
    return value


def _is_lira_adapter(folder: Path) -> bool:
    return (folder / "lira-adapter.json").is_file()


def load_entailment(settings: Settings, reference: str) -> Any:
    """An entailment scorer that runs on the compute thread."""
    path = Path(reference).expanduser()
    if _is_lira_adapter(path):
        scorer = compute.run(_lira_adapter, path, settings)
    else:
        scorer = compute.run(load_nli, reference, settings)
    return compute.ComputeEntailment(scorer)


def _lira_adapter(path: Path, settings: Settings) -> Any:
    base = ((read_manifest(path) or {}).get("base") or {}).get("reference") or settings.embedder
    return NliModel.load(path, resolve(base, settings),
                         NliOptions(device=pick_device(settings.device)))
