"""Model folders published with pickle weights (``pytorch_model.bin``), made safe to load.

ruT5-large, ruGPT-3.5-13B and open_llama_3b ship ``pytorch_model.bin`` (one file, or shards
named by ``pytorch_model.bin.index.json``) on their main branches. A pickle can run code
when it is loaded, so Lira never hands one to the full unpickler: each file is read with
torch's restricted unpickler (``weights_only=True``: tensors and plain containers, nothing
callable), converted once into safetensors in a folder of Lira's own, and every later load
reads that copy. The source folder (often in the shared Hugging Face cache) is not touched.

The copy is written into a temporary folder and renamed into place, so an interrupted
conversion leaves nothing half-written; it is keyed by the source folder and its weight
files' sizes and times, so a changed source is converted again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.errors import BaseModelError, first_line

PICKLE_WEIGHTS = "pytorch_model.bin"
PICKLE_INDEX = "pytorch_model.bin.index.json"
SAFE_INDEX = "model.safetensors.index.json"

Say = Callable[[str], None]

__all__ = ["needs_conversion", "safe_folder"]


def needs_conversion(folder: Path) -> bool:
    """Whether ``folder`` holds pickle weights and no safetensors ones."""
    folder = Path(folder)
    has_pickle = (folder / PICKLE_WEIGHTS).is_file() or (folder / PICKLE_INDEX).is_file()
    return has_pickle and not any(folder.glob("*.safetensors"))


def safe_folder(folder: Path, converted_root: Path, say: Say | None = None) -> Path:
    """``folder`` itself when it has safetensors weights, else its converted copy under
    ``converted_root`` (made now if missing). A pickle that holds anything but tensors
    is a BaseModelError, and nothing in it runs."""
    folder = Path(folder)
    if not needs_conversion(folder):
        return folder
    shards = _pickle_shards(folder)
    target = Path(converted_root) / f"{folder.name}-{_fingerprint(folder, shards)}"
    if target.is_dir():
        return target
    if say:
        say(f"converting {folder.name}'s pickle weights to safetensors, once "
            f"({len(shards)} file{'s' if len(shards) > 1 else ''}, into {target})")
    _convert(folder, shards, target, say)
    return target


def _pickle_shards(folder: Path) -> list[str]:
    """The weight files' names: the index's shards, or the one pytorch_model.bin."""
    index = folder / PICKLE_INDEX
    if not index.is_file():
        return [PICKLE_WEIGHTS]
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BaseModelError(f"cannot read {index}: {exc}; the model folder is damaged") from None
    for name in shards:
        if not isinstance(name, str) or Path(name).name != name or not (folder / name).is_file():
            raise BaseModelError(f"{index} names a shard that is not in {folder}: {name!r}")
    return shards


def _fingerprint(folder: Path, shards: list[str]) -> str:
    """A short key of the source: its real path and its weight files' sizes and times."""
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for name in shards:
        stat = (folder / name).stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def _convert(folder: Path, shards: list[str], target: Path, say: Say | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for entry in folder.iterdir():  # config, tokenizer files, modules...: copied as they are
            if entry.is_dir():
                shutil.copytree(entry, scratch / entry.name)
            elif entry.name != PICKLE_INDEX and entry.name not in shards:
                shutil.copy2(entry, scratch / entry.name)  # a cache's links are followed
        safe_names = {name: _safe_name(name) for name in shards}
        total = 0
        for number, name in enumerate(shards, 1):
            if say and len(shards) > 1:
                say(f"  shard {number}/{len(shards)}: {name}")
            total += _write_safetensors(_load_tensors(folder / name), scratch / safe_names[name])
        if len(shards) > 1:
            _write_safe_index(folder / PICKLE_INDEX, safe_names, total, scratch / SAFE_INDEX)
        os.replace(scratch, target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _safe_name(name: str) -> str:
    # pytorch_model-00001-of-00002.bin -> model-00001-of-00002.safetensors
    stem = name.removesuffix(".bin").replace("pytorch_model", "model", 1)
    return f"{stem}.safetensors"


def _load_tensors(path: Path) -> dict:
    """The file's tensors through torch's restricted unpickler; anything else is refused."""
    import torch

    state = _unpickle(path, mmap=True)
    if state is None:  # the legacy (pre-zip) format cannot be memory-mapped
        state = _unpickle(path, mmap=False)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BaseModelError(f"{path} is not a model's weights (a dict of tensors)")
    return state


def _unpickle(path: Path, mmap: bool) -> Any:
    """``torch.load`` with ``weights_only``; None when asked to map a file that cannot be."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        raise BaseModelError(f"refused {path}: it holds more than tensors and could run code "
                             f"when loaded ({first_line(exc)}); get the model's safetensors "
                             "weights instead") from None
    except RuntimeError as exc:
        if mmap and "mmap" in str(exc):
            return None
        raise BaseModelError(f"cannot read {path}: {first_line(exc)}") from None
    except (OSError, EOFError, ValueError) as exc:
        raise BaseModelError(f"cannot read {path}: {first_line(exc)}") from None


def _write_safetensors(state: dict, path: Path) -> int:
    """Save ``state`` and return its tensors' bytes; tensors that share memory (tied
    embeddings) are saved as copies, as safetensors requires, and transformers ties them
    again when it loads."""
    from safetensors.torch import save_file

    seen: set[int] = set()
    tensors = {}
    for name, tensor in state.items():
        storage = tensor.untyped_storage().data_ptr()
        tensors[name] = tensor.clone() if storage in seen else tensor.contiguous()
        seen.add(storage)
    save_file(tensors, str(path), metadata={"format": "pt"})
    return sum(t.numel() * t.element_size() for t in tensors.values())


def _write_safe_index(source: Path, safe_names: dict[str, str], total: int, path: Path) -> None:
    """The shards' index, naming the safetensors files; transformers reads its metadata,
    which a hand-made pickle index may lack."""
    weight_map = json.loads(source.read_text(encoding="utf-8"))["weight_map"]
    index = {"metadata": {"total_size": total},
             "weight_map": {k: safe_names[v] for k, v in weight_map.items()}}
    path.write_text(json.dumps(index, indent=2), encoding="utf-8")
