"""Which engine runs a local model: llama.cpp for GGUF files and the bundled model on a CPU,
transformers for the rest.

A profile's ``engine`` setting is ``auto`` (the default), ``llama.cpp`` or
``transformers``.  ``auto`` runs a model given as GGUF (a ``.gguf`` file, or a
folder or Hub snapshot holding GGUF files) on llama.cpp, and the bundled
gemma-3-270m too, from the GGUF it ships as, when the binding is installed
and the model runs on a CPU: its answers on the chat adapter's held-out
questions measured within a point of the transformers path's (README).  When
the bundled model cannot go to llama.cpp (no binding, a GPU, bitsandbytes
quantisation, an adapter llama.cpp cannot take) it runs on transformers and
the plan says why in one line.  Everything else runs on transformers.

On llama.cpp an adapter is exported once to GGUF: merged into a copy of the
base (``speed.merge_adapter``, the default: a LoRA applied at run time cost the
bundled model 6-10% of its decoding speed, merged 2-4%), or, with that setting
off, a LoRA as a llama.cpp LoRA GGUF applied at run time (a 15 MB file instead
of a 290 MB one); an IA3 adapter is always merged (it has no llama.cpp form).
Exports are looked for beside the adapter first (where ``lira adapters
export-gguf`` writes them) and kept under LIRA_HOME/models/gguf otherwise,
named by the contents of adapter and base.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.errors import AdapterError
from assistant.errors import ModelLoadError, ModelNotFound, SettingsError
from assistant.runtime.llama_engine import INSTALL_HINT, llama_available
from assistant.settings import ModelProfile, Settings

AUTO, LLAMA, TRANSFORMERS = "auto", "llama.cpp", "transformers"
GGUF_FOLDER = "gguf"  # under LIRA_HOME/models: the bundled GGUF and the adapters' exports


@dataclass(frozen=True)
class EnginePlan:
    """The engine a profile's model runs on, its GGUF file (llama.cpp), and why the bundled
    model stays on transformers when it does (None otherwise)."""

    engine: str
    gguf: Path | None = None
    note: str | None = None


@dataclass(frozen=True)
class GgufRun:
    """What llama.cpp loads for a model and adapter: the model file and a LoRA GGUF on it."""

    model: Path
    lora: Path | None = None


def plan_engine(config: ModelProfile, settings: Settings, adapter: Path | None) -> EnginePlan:
    """Choose the engine for ``config``'s model with ``adapter`` (see the module docstring);
    a model that cannot run on the engine the setting asks for is a SettingsError."""
    direct = gguf_source(config.model, settings, config.gguf_quant, bundled=False)
    if config.engine == TRANSFORMERS or (config.engine == AUTO and direct is None):
        if direct is not None:
            raise SettingsError(f"{config.model} is a GGUF file, which transformers does not "
                                "run here: set engine = \"auto\" or \"llama.cpp\"")
        if config.engine == AUTO and _bundled(config.model):
            return _bundled_plan(config, settings, adapter)
        return EnginePlan(TRANSFORMERS)
    gguf = direct or gguf_source(config.model, settings, config.gguf_quant)
    why_not = ("the model has no GGUF file" if gguf is None
               else _why_not_llama(config, settings, adapter))
    if why_not is not None:
        raise SettingsError(f"{config.model} cannot run on llama.cpp: {why_not}; set "
                            "engine = \"transformers\" or change what is named")
    return EnginePlan(LLAMA, gguf)


def _bundled_plan(config: ModelProfile, settings: Settings, adapter: Path | None) -> EnginePlan:
    """llama.cpp for the bundled model where it can run there, else transformers and why."""
    why_not = _why_not_llama(config, settings, adapter)
    if why_not is None and _has_cuda(settings):
        why_not = "a GPU is here"
    if why_not is None:
        gguf = gguf_source(config.model, settings, config.gguf_quant)
        if gguf is not None:
            return EnginePlan(LLAMA, gguf)
        why_not = "the bundled model has no GGUF file here"
    return EnginePlan(TRANSFORMERS, note=f"running {config.model} on transformers: {why_not}")


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
    from assistant.runtime.models import cached_snapshot

    snapshot = cached_snapshot(reference)  # a Hub repository pulled by `lira models pull`
    if snapshot is not None and any(snapshot.glob("*.gguf")):
        return _pick(sorted(snapshot.glob("*.gguf")), quant, snapshot)
    if bundled and _bundled(reference):
        from assistant.runtime.gemma_bundle import assemble_gguf, gemma_bundle_available

        if not gemma_bundle_available():
            return None
        folder = settings.models_dir / GGUF_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        return assemble_gguf(folder)
    return None


def adapter_gguf(adapter: Path | None, gguf: Path, settings: Settings,
                 say: Callable[[str], None] = lambda line: None, quant: str | None = None,
                 beside: bool = False) -> GgufRun:
    """What llama.cpp runs ``adapter`` on the base ``gguf`` with: the adapter merged into a
    copy of the base (``quant``: requantised by llama.cpp to it; None keeps the base's
    types), or, with ``speed.merge_adapter`` off, a LoRA exported to a llama.cpp LoRA
    GGUF.  Exported once (``say`` hears when): beside the adapter with ``beside``, else
    under LIRA_HOME/models/gguf; an export already beside the adapter is used first."""
    if adapter is None:
        return GgufRun(gguf)
    kind = _peft_type(adapter)
    lora = kind == "LORA" and not settings.speed.merge_adapter
    name = f"{'lora' if lora else 'merged'}-{adapter.name}-{_digest(adapter, gguf)}"
    name += f"-{quant}.gguf" if quant and not lora else ".gguf"
    for folder in (adapter, settings.models_dir / GGUF_FOLDER):
        if (folder / name).is_file():
            return GgufRun(gguf, folder / name) if lora else GgufRun(folder / name)
    out = (adapter if beside else settings.models_dir / GGUF_FOLDER) / name
    say(f"exporting adapter {adapter.name} for llama.cpp"
        + ("" if lora else " (merged into the base: once, under a minute)"))
    base = gguf_base(gguf)  # reading every field of a GGUF takes seconds: only to export
    try:
        if lora:
            from adapters.gguf_lora import export_lora_gguf

            return GgufRun(gguf, export_lora_gguf(adapter, base, out))
        return GgufRun(_merged(adapter, kind, gguf, base, out, quant))
    except AdapterError as exc:
        raise ModelLoadError(str(exc)) from exc


def export_for_llama(adapter: Path, base: str, settings: Settings,
                     say: Callable[[str], None], quant: str | None = None) -> GgufRun:
    """``lira adapters export-gguf``: ``adapter`` exported for the GGUF of the model ``base``
    names, beside the adapter when its folder is writable (else under LIRA_HOME)."""
    import os

    gguf = gguf_source(base, settings)
    if gguf is None:
        raise ModelNotFound(f"{base} has no GGUF file to export for: pass --base FILE.gguf")
    return adapter_gguf(adapter, gguf, settings, say, quant, beside=os.access(adapter, os.W_OK))


def _merged(adapter: Path, kind: str | None, gguf: Path, base, out: Path,
            quant: str | None) -> Path:
    from adapters.gguf_merge import merge_ia3_gguf, merge_lora_gguf, quantize_gguf

    merge = merge_lora_gguf if kind == "LORA" else merge_ia3_gguf
    if quant is None:
        return merge(adapter, gguf, base, out)
    plain = merge(adapter, gguf, base, out.with_name(f".{out.name}.merged"))
    try:
        return quantize_gguf(plain, out, quant)
    finally:
        plain.unlink(missing_ok=True)


def _digest(adapter: Path, gguf: Path) -> str:
    """Names an export by the adapter's weights and the base it was made for."""
    digest = hashlib.sha256(f"{gguf.name}:{gguf.stat().st_size}".encode())
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((adapter / name).read_bytes())
    return digest.hexdigest()[:16]


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


def _why_not_llama(config: ModelProfile, settings: Settings,
                   adapter: Path | None) -> str | None:
    if not llama_available():
        return f"the llama.cpp engine is not installed ({INSTALL_HINT})"
    if settings.device == "cuda":
        return "device = cuda runs on transformers"
    if config.quantization != "none":
        return f"quantization = {config.quantization} is bitsandbytes, a transformers feature"
    if adapter is not None and _peft_type(adapter) not in ("LORA", "IA3"):
        return (f"adapter {adapter.name} is {_peft_type(adapter) or 'not a peft adapter'}; "
                "llama.cpp runs LoRA and (merged) IA3 adapters only")
    return None


def _has_cuda(settings: Settings) -> bool:
    if settings.device != "auto":
        return settings.device == "cuda"
    from adapters.base_model import pick_device

    return pick_device("auto") == "cuda"


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
