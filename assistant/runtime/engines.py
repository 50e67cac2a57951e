"""Which engine runs a local model: llama.cpp for GGUF files, transformers for the rest.

A profile's ``engine`` setting is ``auto`` (the default), ``llama.cpp`` or
``transformers``.  ``auto`` runs a model given as GGUF (a ``.gguf`` file, or a
folder or Hub snapshot holding GGUF files) on llama.cpp and everything else on
transformers.  ``llama.cpp`` also runs the bundled gemma-3-270m from the GGUF
it ships as; it stays opt-in until its answers are measured against the
transformers path's on the chat adapter's held-out questions.  On llama.cpp
the model runs on the CPU without bitsandbytes quantisation, and its adapter,
if any, must be a LoRA (exported once to a llama.cpp LoRA GGUF): IA3 has no
llama.cpp form.  Anything else is a one-line error saying what to change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ModelLoadError, ModelNotFound, SettingsError
from assistant.runtime.llama_engine import INSTALL_HINT, llama_available
from assistant.settings import ModelProfile, Settings

AUTO, LLAMA, TRANSFORMERS = "auto", "llama.cpp", "transformers"
GGUF_FOLDER = "gguf"  # under LIRA_HOME/models: the bundled GGUF and exported LoRA GGUFs


@dataclass(frozen=True)
class EnginePlan:
    """The engine a profile's model runs on, and its GGUF file (llama.cpp)."""

    engine: str
    gguf: Path | None = None


def plan_engine(config: ModelProfile, settings: Settings, adapter: Path | None) -> EnginePlan:
    """Choose the engine for ``config``'s model with ``adapter`` (see the module docstring);
    a model that cannot run on the engine the setting asks for is a SettingsError."""
    direct = gguf_source(config.model, settings, config.gguf_quant, bundled=False)
    if config.engine == TRANSFORMERS or (config.engine == AUTO and direct is None):
        if direct is not None:
            raise SettingsError(f"{config.model} is a GGUF file, which transformers does not "
                                "run here: set engine = \"auto\" or \"llama.cpp\"")
        return EnginePlan(TRANSFORMERS)
    gguf = direct or gguf_source(config.model, settings, config.gguf_quant)
    why_not = _why_not_llama(config, settings, gguf, adapter)
    if why_not is not None:
        raise SettingsError(f"{config.model} cannot run on llama.cpp: {why_not}; set "
                            "engine = \"transformers\" or change what is named")
    return EnginePlan(LLAMA, gguf)


def gguf_source(reference: str, settings: Settings, quant: str = "q4_k_m",
                bundled: bool = True) -> Path | None:
    """The GGUF file a model reference stands for, or None: a ``.gguf`` file, the one GGUF
    of a folder (the one whose name has ``quant`` when there are several), or (with
    ``bundled``) the bundled gemma-3-270m's file, assembled once under LIRA_HOME/models/gguf."""
    path = Path(reference).expanduser()
    if reference.lower().endswith(".gguf"):
        if not path.is_file():
            raise ModelNotFound(f"GGUF file {path} does not exist; check the path")
        return path.resolve()
    if path.is_dir():
        return _pick(sorted(path.glob("*.gguf")), quant, path)
    if bundled and _bundled(reference):
        from assistant.runtime.gemma_bundle import assemble_gguf, gemma_bundle_available

        if not gemma_bundle_available():
            return None
        folder = settings.models_dir / GGUF_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        return assemble_gguf(folder)
    return None


def lora_gguf(adapter: Path, gguf: Path, settings: Settings,
              say: Callable[[str], None] = lambda line: None) -> Path:
    """The llama.cpp LoRA GGUF of the peft LoRA in ``adapter`` for the base ``gguf``,
    exported once (``say`` hears when) and kept under LIRA_HOME/models/gguf by the
    adapter's contents."""
    from adapters.errors import AdapterError
    from adapters.gguf_lora import export_lora_gguf

    digest = hashlib.sha256(f"{gguf.name}:{gguf.stat().st_size}".encode())  # the base too
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((adapter / name).read_bytes())
    out = settings.models_dir / GGUF_FOLDER / f"lora-{adapter.name}-{digest.hexdigest()[:16]}.gguf"
    if out.is_file():
        return out
    say(f"exporting adapter {adapter.name} for llama.cpp")
    base = gguf_base(gguf)  # reading every field of a GGUF takes seconds: only to export
    try:
        return export_lora_gguf(adapter, base, out)
    except AdapterError as exc:
        raise ModelLoadError(str(exc)) from exc


def gguf_base(path: Path):
    """The architecture, layer and head counts of the GGUF model file at ``path``."""
    from gguf import GGUFReader

    from adapters.gguf_lora import GgufBase

    try:
        reader = GGUFReader(path)
        arch = str(reader.get_field("general.architecture").contents())

        def number(key: str) -> int:
            return int(reader.get_field(f"{arch}.{key}").contents())

        shapes = {t.name: (int(t.shape[1]), int(t.shape[0])) for t in reader.tensors
                  if len(t.shape) == 2}  # GGUF lists (in, out)
        return GgufBase(arch, number("block_count"), number("attention.head_count"),
                        number("attention.head_count_kv"), shapes)
    except (ValueError, OSError, IndexError, AttributeError, TypeError) as exc:
        raise ModelLoadError(f"{path} is not a readable GGUF model ({exc}): download or "
                             "convert it again") from None


def _why_not_llama(config: ModelProfile, settings: Settings, gguf: Path | None,
                   adapter: Path | None) -> str | None:
    if gguf is None:
        return "the model has no GGUF file"
    if not llama_available():
        return f"the llama.cpp engine is not installed ({INSTALL_HINT})"
    if settings.device == "cuda":
        return "device = cuda runs on transformers"
    if config.quantization != "none":
        return f"quantization = {config.quantization} is bitsandbytes, a transformers feature"
    if adapter is not None and _peft_type(adapter) != "LORA":
        return (f"adapter {adapter.name} is {_peft_type(adapter) or 'not a peft adapter'}; "
                "llama.cpp runs LoRA adapters only")
    return None


def _peft_type(adapter: Path) -> str | None:
    try:
        return json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8")).get(
            "peft_type")
    except (OSError, ValueError):
        return None


def _pick(files: list[Path], quant: str, folder: Path) -> Path | None:
    if len(files) <= 1:
        return files[0].resolve() if files else None
    chosen = [f for f in files if quant.lower() in f.name.lower()]
    if len(chosen) != 1:
        names = ", ".join(f.name for f in files)
        raise SettingsError(f"{folder} holds several GGUF files ({names}); set gguf_quant to "
                            "a part of one name (e.g. q4_k_m)")
    return chosen[0].resolve()


def _bundled(reference: str) -> bool:
    from assistant.runtime.models import bundled_for

    bundle = bundled_for(reference)
    return bundle is not None and bundle.role == "generator"
