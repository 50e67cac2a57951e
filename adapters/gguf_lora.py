"""A peft LoRA adapter written as a llama.cpp LoRA GGUF, for the llama.cpp engine.

llama.cpp applies a LoRA at run time from a GGUF of ``general.type =
adapter``, ``adapter.type = lora`` and ``adapter.lora.alpha``, with each
adapted weight's A and B under the base tensor's GGUF name plus ``.lora_a`` /
``.lora_b`` (A as peft stores it, rank x in; B as out x rank); it scales
them by alpha / rank, as peft does.  Module names map to GGUF names through
gguf-py's own tensor-name tables, the ones llama.cpp's converter uses.  Gemma's
linear weights are converted as they are, so A and B go over unchanged; for
LLaMA the converter reorders the rows of the query and key weights for its
rotary layout, so B of those gets the same reordering.
Written to a temporary file and renamed: a cut-off export leaves nothing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from adapters.errors import AdapterFolderError, MergeError, first_line

PEFT_PREFIX = "base_model.model."


@dataclass(frozen=True)
class GgufBase:
    """What an export needs to know of the base model's GGUF."""

    arch: str  # general.architecture
    blocks: int
    heads: int
    kv_heads: int
    # (out, in) of each weight by GGUF name: llama.cpp's binding does not stop at a LoRA
    # that does not fit its base (it crashes later), so the export checks first
    shapes: dict[str, tuple[int, int]]


# Architectures whose converter reorders query/key rows (convert_hf_to_gguf's permute).
PERMUTED = frozenset({"llama"})


def export_lora_gguf(adapter_dir: Path, base: GgufBase, out: Path) -> Path:
    """Write the LoRA adapter in ``adapter_dir`` as a llama.cpp LoRA GGUF at ``out`` for
    the base ``base``; returns ``out``."""
    import gguf

    config = lora_config(adapter_dir)
    pairs = lora_pairs(adapter_dir, base)
    writer_path = out.with_name(f".{out.name}.partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(writer_path), base.arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", _alpha(config))
    for name in sorted(pairs):
        down, up = pairs[name]
        writer.add_tensor(name + ".lora_a", down)
        writer.add_tensor(name + ".lora_b", up)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(writer_path, out)
    finally:
        writer_path.unlink(missing_ok=True)
    return out


def lora_pairs(adapter_dir: Path, base: GgufBase) -> dict:
    """GGUF weight name -> (A, B) as float32 arrays in the GGUF's row order, for each weight
    the LoRA adapter in ``adapter_dir`` adapts; an adapter that does not fit ``base`` is a
    MergeError."""
    import numpy as np
    from safetensors.numpy import load_file

    lora_config(adapter_dir)  # not LoRA, or DoRA: said as such before its tensors are read
    names = gguf_tensor_names(base.arch, base.blocks)
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    pairs: dict[str, list] = {}
    for key in sorted(tensors):
        part = ".lora_A.weight" if key.endswith(".lora_A.weight") else \
            ".lora_B.weight" if key.endswith(".lora_B.weight") else None
        if part is None:
            raise MergeError(f"{adapter_dir}: tensor {key} is not a LoRA A or B weight; only "
                             "plain LoRA adapters run on llama.cpp")
        module = key[:-len(part)].removeprefix(PEFT_PREFIX)
        base_name = names.get_name(module, try_suffixes=(".weight",))
        if base_name is None:
            raise MergeError(f"{adapter_dir}: no llama.cpp tensor for {module} in a "
                             f"{base.arch} model")
        suffix = ".lora_a" if part == ".lora_A.weight" else ".lora_b"
        weight = tensors[key].astype(np.float32)
        if suffix == ".lora_b" and base.arch in PERMUTED and base_name.endswith(("attn_q", "attn_k")):
            weight = rotary_permute(weight, base.heads if base_name.endswith("attn_q") else base.kv_heads)
        _check_fits(base, base_name + ".weight", suffix, weight.shape, adapter_dir)
        pair = pairs.setdefault(base_name + ".weight", [None, None])
        pair[suffix == ".lora_b"] = np.ascontiguousarray(weight)
    if not pairs:
        raise MergeError(f"{adapter_dir}: the adapter has no LoRA weights to export")
    if any(part is None for pair in pairs.values() for part in pair):
        raise MergeError(f"{adapter_dir}: a LoRA A weight has no B (or a B no A); train or "
                         "copy the adapter again")
    return {name: tuple(pair) for name, pair in pairs.items()}


def lora_scale(adapter_dir: Path) -> float:
    """peft's factor on B @ A: alpha / rank, or alpha / sqrt(rank) for rank-stabilised LoRA."""
    config = lora_config(adapter_dir)
    return _alpha(config) / int(config.get("r") or 8)


def _check_fits(base: GgufBase, name: str, suffix: str, shape: tuple, adapter_dir: Path) -> None:
    want = base.shapes.get(name)
    fits = want is not None and (shape[1] == want[1] if suffix == ".lora_a" else shape[0] == want[0])
    if not fits:
        raise MergeError(f"{adapter_dir} does not fit this base model: {name} is "
                         f"{want or 'missing'} there; use the adapter with the base it was "
                         "trained on")


def rotary_permute(rows, heads: int):
    """The converter's rotary reordering of a query/key weight's rows, per head: the two
    halves of each head's dimensions interleaved."""
    shape = rows.shape
    return rows.reshape(heads, 2, shape[0] // heads // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def peft_config(adapter_dir: Path) -> dict:
    """The adapter's adapter_config.json; unreadable is an AdapterFolderError."""
    try:
        return json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdapterFolderError(f"{adapter_dir}: cannot read adapter_config.json "
                                 f"({first_line(exc)})") from None


def lora_config(adapter_dir: Path) -> dict:
    """The adapter's peft config, if it is a plain LoRA llama.cpp can take (else MergeError)."""
    config = peft_config(adapter_dir)
    if config.get("peft_type") != "LORA":
        raise MergeError(f"{adapter_dir} is a {config.get('peft_type')} adapter: llama.cpp runs "
                         "LoRA only; merge it into the base and export the merged model")
    if config.get("use_dora"):
        raise MergeError(f"{adapter_dir} is a DoRA adapter, which llama.cpp cannot run")
    return config


def _alpha(config: dict) -> float:
    """The alpha llama.cpp needs to scale by peft's factor: alpha / r, or alpha / sqrt(r)
    for rank-stabilised LoRA."""
    alpha, rank = float(config.get("lora_alpha") or 8), int(config.get("r") or 8)
    return alpha * math.sqrt(rank) if config.get("use_rslora") else alpha


def gguf_tensor_names(arch: str, n_blocks: int):
    """gguf-py's map from transformers module names to GGUF tensor names for ``arch``."""
    import gguf

    kinds = {name: kind for kind, name in gguf.MODEL_ARCH_NAMES.items()}
    if arch not in kinds:
        raise MergeError(f"gguf does not know the architecture {arch}")
    return gguf.get_tensor_name_map(kinds[arch], n_blocks)
