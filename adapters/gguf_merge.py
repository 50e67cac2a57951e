"""An adapter merged into its base model's GGUF, for the llama.cpp engine.

A LoRA merged into the weights runs about as fast as the bare model: applied at
run time (adapters.gguf_lora) its two small products per adapted weight cost
6-10% of a 270M model's decoding speed (bench/llama_overhead.py).  Each adapted
weight is read back to float32, gets peft's scale x B @ A added, and is written
as Q8_0 when the base stores it quantised: written back in its own type, the
delta would mostly vanish, since the base's values already sit on that type's
grid and a small change rounds back to them; Q8_0's grid is eight times finer.

IA3 has no llama.cpp form: it multiplies a projection's outputs (keys, values)
or inputs (the feed-forward down projection) by a learnt vector.  Both fold
into the weight itself: an output scaling multiplies the weight's rows, an
input scaling its columns.  Only the adapted tensors change: each is read
back to float32 (gguf-py), scaled, and written in its own type where gguf-py
can write that type, else (the k-quants) as Q8_0, finer than any k-quant;
every other tensor and every metadata field is copied byte for byte.  A row
scaling of a block-quantised tensor only rescales each block, so the keys and
values come back nearly exact.  For LLaMA the converter stored the key rows
in its rotary order, so the vector is reordered the same way.  Written to a
temporary file and renamed: a cut-off export leaves nothing.

``quantize_gguf`` runs llama.cpp's own quantiser over a merged file, for a
smaller or a uniform type (``lira adapters export-gguf --quant``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from adapters.errors import MergeError
from adapters.gguf_lora import (
    PEFT_PREFIX,
    PERMUTED,
    GgufBase,
    gguf_tensor_names,
    lora_pairs,
    lora_scale,
    peft_config,
    rotary_permute,
)

IA3_SUFFIX = ".ia3_l"
# llama.cpp's file types by the names `--quant` takes (llama_ftype)
FILE_TYPES = {"f16": 1, "q8_0": 7, "q4_k_m": 15}
MERGED_KEY = "lira.merged_adapter"  # names the adapter a merged file carries


def merge_ia3_gguf(adapter_dir: Path, base_path: Path, base: GgufBase, out: Path) -> Path:
    """Write the GGUF model at ``base_path`` with the IA3 adapter in ``adapter_dir`` folded
    into its weights, at ``out``; returns ``out``."""
    scales = _scales(adapter_dir, base)

    def change(tensor):
        return _scaled(tensor, scales[tensor.name]) if tensor.name in scales else None

    return _write_merged(adapter_dir, base_path, base.arch, out, change)


def merge_lora_gguf(adapter_dir: Path, base_path: Path, base: GgufBase, out: Path) -> Path:
    """Write the GGUF model at ``base_path`` with the LoRA adapter in ``adapter_dir`` added
    into its weights, at ``out``; returns ``out``."""
    pairs, scale = lora_pairs(adapter_dir, base), lora_scale(adapter_dir)

    def change(tensor):
        return _added(tensor, pairs[tensor.name], scale) if tensor.name in pairs else None

    return _write_merged(adapter_dir, base_path, base.arch, out, change)


def _write_merged(adapter_dir: Path, base_path: Path, arch: str, out: Path, change) -> Path:
    """The base GGUF copied to ``out`` with each tensor ``change`` returns (data, type) for
    replaced, through a temporary file."""
    import gguf

    reader = gguf.GGUFReader(base_path)
    partial = out.with_name(f".{out.name}.partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(partial), arch, endianess=reader.endianess)
    try:
        _copy_fields(reader, writer)
        writer.add_string(MERGED_KEY, adapter_dir.name)
        tensors = [(t.name, change(t) or (t.data, t.tensor_type)) for t in reader.tensors]
        for name, (data, kind) in tensors:
            writer.add_tensor_info(name, data.shape, data.dtype, data.nbytes, kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for _, (data, _) in tensors:
            writer.write_tensor_data(data, tensor_endianess=reader.endianess)
        writer.close()
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def quantize_gguf(source: Path, out: Path, quant: str, threads: int = 0) -> Path:
    """``source`` requantised by llama.cpp to ``quant`` (a FILE_TYPES name) at ``out``."""
    import llama_cpp

    if quant not in FILE_TYPES:
        raise MergeError(f"unknown quantisation {quant}; use one of {', '.join(FILE_TYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = FILE_TYPES[quant], True, threads
    partial = out.with_name(f".{out.name}.partial")
    # the binding prints llama.cpp's log as its logger's level allows: the quantiser writes
    # some 270 lines (every field and tensor), and a failure is our own one line anyway
    log = logging.getLogger("llama-cpp-python")
    level = log.level
    log.setLevel(logging.CRITICAL + 10)
    try:
        if llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(),
                                          params) != 0:
            raise MergeError(f"llama.cpp could not quantise {source.name} to {quant}")
        os.replace(partial, out)
    finally:
        log.setLevel(level)
        partial.unlink(missing_ok=True)
    return out


def _scales(adapter_dir: Path, base: GgufBase) -> dict[str, tuple]:
    """GGUF tensor name -> (scaling vector, whether it scales inputs) for each adapted weight."""
    import numpy as np
    from safetensors.numpy import load_file

    feedforward = tuple(_ia3_config(adapter_dir).get("feedforward_modules") or ())
    names = gguf_tensor_names(base.arch, base.blocks)
    scales = {}
    for key, value in load_file(str(adapter_dir / "adapter_model.safetensors")).items():
        if not key.endswith(IA3_SUFFIX):
            raise MergeError(f"{adapter_dir}: tensor {key} is not an IA3 vector")
        module = key[:-len(IA3_SUFFIX)].removeprefix(PEFT_PREFIX)
        name = names.get_name(module, try_suffixes=(".weight",))
        if name is None:
            raise MergeError(f"{adapter_dir}: no llama.cpp tensor for {module} in a {base.arch} model")
        inputs = module.endswith(feedforward) if feedforward else value.shape[0] == 1
        vector = value.reshape(-1).astype(np.float32)
        if not inputs and base.arch in PERMUTED and name.endswith(("attn_q", "attn_k")):
            heads = base.heads if name.endswith("attn_q") else base.kv_heads
            vector = rotary_permute(vector[:, None], heads)[:, 0]
        want = base.shapes.get(name + ".weight")
        if want is None or len(vector) != want[1 if inputs else 0]:
            raise MergeError(f"{adapter_dir} does not fit this base model: {name} is "
                             f"{want or 'missing'} there; use the adapter with its own base")
        scales[name + ".weight"] = (vector, inputs)
    if not scales:
        raise MergeError(f"{adapter_dir}: the adapter has no IA3 vectors to merge")
    return scales


def _scaled(tensor, scale: tuple) -> tuple:
    """(data, type) of ``tensor`` with its rows (outputs) or columns (inputs) scaled."""
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf import quants

    vector, inputs = scale
    weight = quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
    weight = weight * (vector[None, :] if inputs else vector[:, None])
    kind = tensor.tensor_type
    if kind not in (Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1):
        kind = Q.Q8_0  # gguf-py writes no k-quant; Q8_0 is finer than all of them
    return quants.quantize(np.ascontiguousarray(weight), kind), kind


def _added(tensor, pair: tuple, scale: float) -> tuple:
    """(data, type) of ``tensor`` with ``scale`` x B @ A added: float types kept, quantised
    ones written as Q8_0 (see the module docstring)."""
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf import quants

    down, up = pair
    weight = quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
    weight = weight + scale * (up @ down)
    kind = tensor.tensor_type if tensor.tensor_type in (Q.F32, Q.F16, Q.BF16) else Q.Q8_0
    return quants.quantize(np.ascontiguousarray(weight), kind), kind


def _copy_fields(reader, writer) -> None:
    """Every metadata field of ``reader`` but those the writer writes itself."""
    import gguf

    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub_type)


def _ia3_config(adapter_dir: Path) -> dict:
    config = peft_config(adapter_dir)
    if config.get("peft_type") != "IA3":
        raise MergeError(f"{adapter_dir} is a {config.get('peft_type')} adapter, not IA3")
    return config
