"""Write an e5-style sentence-transformers folder as a GGUF file for llama.cpp.

The folder is what :mod:`index.e5_bundle` builds (or any mean-pooled BERT or
XLM-RoBERTa encoder with a SentencePiece unigram ``tokenizer.json``).  The file
llama.cpp reads is:

* architecture ``bert``, non-causal, mean pooling (llama.cpp averages every
  token, ``<s>`` and ``</s>`` included, as sentence-transformers' Pooling does);
* the encoder's weights under gguf-py's names: matrices in f16 or q8_0, norms
  and biases in float32; an XLM-RoBERTa's position table loses the rows before
  ``pad_token_id + 1``, where its positions start;
* the unigram vocabulary as llama.cpp's ``t5`` (UGM) tokenizer: pieces, scores,
  token types, the SentencePiece precompiled charsmap, ``<s> text </s>``;
* the folder's query/passage prompts under ``lira.prompt.*``, so the file says
  how to use it.

The file is written beside ``out`` and renamed into place when whole.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.errors import EmbedderError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["QUANTS", "PROMPT_KEY", "write_embedder_gguf"]

QUANTS = ("f16", "q8_0")
PROMPT_KEY = "lira.prompt."  # + "query" / "passage"
_PREFIXES = ("bert.", "roberta.")
_SKIPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")

Progress = Callable[[str], None]


def write_embedder_gguf(model_dir: Path, out: Path, quant: str = "f16",
                        progress: Progress | None = None) -> Path:
    """Write the sentence-transformers folder ``model_dir`` as a GGUF at ``out``.

    Raises:
        EmbedderError: the folder is not a mean-pooled BERT/XLM-R encoder with a
            unigram tokenizer, ``quant`` is unknown, or the file cannot be written.
    """
    if quant not in QUANTS:
        raise EmbedderError(f"unknown GGUF type {quant!r} for the embedder; use one of "
                            f"{', '.join(QUANTS)}")
    report = progress or (lambda _msg: None)
    model_dir, out = Path(model_dir), Path(out)
    config = _read_json(model_dir / "config.json")
    _check_pooling(model_dir)
    partial = out.with_name(f".{out.name}.part")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        report(f"writing {out.name} ({quant})")
        _write(model_dir, config, partial, quant)
        os.replace(partial, out)
    except OSError as exc:
        raise EmbedderError(f"cannot write {out}: {exc}; check free disk space and "
                            "permissions") from exc
    finally:
        partial.unlink(missing_ok=True)
    return out


# ------------------------------------------------------------- the folder

def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbedderError(f"cannot read {path}: {exc}; is {path.parent} a "
                            "sentence-transformers model folder?") from exc


def _check_pooling(model_dir: Path) -> None:
    """llama.cpp's mean pooling is only right for a mean-pooled, normalised model."""
    modules = _read_json(model_dir / "modules.json")
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    pooling = next((m for m in modules if m.get("type", "").endswith("Pooling")), None)
    spec = _read_json(model_dir / pooling["path"] / "config.json") if pooling else {}
    # sentence-transformers 5 writes "pooling_mode": "mean"; earlier ones a flag per mode
    mean = spec.get("pooling_mode") == "mean" or spec.get("pooling_mode_mean_tokens")
    if kinds[:1] != ["Transformer"] or not mean or "Normalize" not in kinds:
        raise EmbedderError(f"{model_dir} is not a mean-pooled, normalised encoder "
                            f"({' -> '.join(kinds)}); only those convert to GGUF")


def _prompts(model_dir: Path) -> dict[str, str]:
    path = model_dir / "config_sentence_transformers.json"
    return (_read_json(path).get("prompts") or {}) if path.is_file() else {}


# ------------------------------------------------------------- the file

def _write(model_dir: Path, config: dict[str, Any], path: Path, quant: str) -> None:
    import gguf

    kind = config.get("model_type")
    if kind not in ("bert", "xlm-roberta"):
        raise EmbedderError(f"{model_dir} holds a {kind!r} model; only BERT and XLM-RoBERTa "
                            "encoders convert to GGUF")
    # RoBERTa numbers positions from pad_token_id + 1: those first rows are never read
    offset = config.get("pad_token_id", 1) + 1 if kind == "xlm-roberta" else 0
    file_type = {"f16": gguf.LlamaFileType.MOSTLY_F16,
                 "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[quant]
    writer = gguf.GGUFWriter(str(path), "bert")
    writer.add_name(model_dir.name)
    writer.add_context_length(config["max_position_embeddings"] - offset)
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(file_type)
    for name, text in _prompts(model_dir).items():
        writer.add_string(PROMPT_KEY + name, text)
    _add_tokenizer(writer, model_dir, config)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, config["num_hidden_layers"])
    for name, weight in _weights(model_dir):
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise EmbedderError(f"{model_dir} has a tensor {name!r} llama.cpp's BERT does "
                                "not know; only plain BERT encoders convert")
        if name == "embeddings.position_embeddings.weight":
            weight = weight[offset:]
        data, kind = _typed(weight, quant, target)
        writer.add_tensor(target, data, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _weights(model_dir: Path):
    """(transformers name without the model prefix, float32 array) for each encoder tensor."""
    import numpy as np
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(model_dir / "model.safetensors"))
    except (OSError, SafetensorError) as exc:
        raise EmbedderError(f"cannot read {model_dir / 'model.safetensors'}: {exc}; "
                            "prepare the embedder again") from exc
    for name, weight in tensors.items():
        name = next((name[len(p):] for p in _PREFIXES if name.startswith(p)), name)
        if name not in _SKIPPED:
            yield name, weight.astype(np.float32)


def _typed(weight: np.ndarray, quant: str, target: str) -> tuple[np.ndarray, Any]:
    """The tensor as stored: vectors (and the tiny token-type table) stay float32,
    matrices go to f16 or q8_0 (q8_0 needs rows of whole 32-value blocks)."""
    import gguf
    import numpy as np

    f32 = gguf.GGMLQuantizationType.F32
    if weight.ndim < 2 or target.startswith("token_types"):  # added whole, not looked up
        return np.ascontiguousarray(weight, dtype=np.float32), f32
    if quant == "q8_0" and weight.shape[-1] % 32 == 0:
        q8 = gguf.GGMLQuantizationType.Q8_0
        return gguf.quants.quantize(np.ascontiguousarray(weight), q8), q8
    return np.ascontiguousarray(weight, dtype=np.float16), gguf.GGMLQuantizationType.F16


# ------------------------------------------------------------- the tokenizer

def _add_tokenizer(writer: Any, model_dir: Path, config: dict[str, Any]) -> None:
    """The unigram vocabulary as llama.cpp's UGM ("t5") tokenizer."""
    import gguf

    spec = _read_json(model_dir / "tokenizer.json")
    model = spec.get("model") or {}
    if model.get("type") != "Unigram":
        raise EmbedderError(f"{model_dir} has a {model.get('type')!r} tokenizer; only "
                            "SentencePiece unigram tokenizers (e5, XLM-R) convert to GGUF")
    pieces = [piece for piece, _ in model["vocab"]]
    scores = [float(score) for _, score in model["vocab"]]
    special = {t["content"]: t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    unk = model.get("unk_id")
    types = [gguf.TokenType.CONTROL if i in special.values() else gguf.TokenType.NORMAL
             for i in range(len(pieces))]
    if unk is not None:
        types[unk] = gguf.TokenType.UNKNOWN
        scores[unk] = 0.0  # llama.cpp scores unknown characters itself (lowest score - 10)
    # rows past the vocabulary (e5 pads its embedding table) can never be produced
    for i in range(len(pieces), config["vocab_size"]):
        pieces.append(f"[PAD{i}]")
        scores.append(-10000.0)
        types.append(gguf.TokenType.UNUSED)
    writer.add_tokenizer_model("t5")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(pieces)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_token_type_count(config.get("type_vocab_size", 1))
    writer.add_add_space_prefix(True)
    writer.add_remove_extra_whitespaces(True)
    charsmap = _charsmap(spec.get("normalizer"))
    if charsmap:
        writer.add_precompiled_charsmap(charsmap)
    ids = {name: special.get(name) for name in ("<s>", "</s>", "<pad>", "<mask>")}
    if ids["<s>"] is None or ids["</s>"] is None:
        raise EmbedderError(f"{model_dir}'s tokenizer has no <s> and </s>; only XLM-R style "
                            "tokenizers convert to GGUF")
    writer.add_bos_token_id(ids["<s>"])
    writer.add_eos_token_id(ids["</s>"])
    writer.add_sep_token_id(ids["</s>"])
    if unk is not None:
        writer.add_unk_token_id(unk)
    if ids["<pad>"] is not None:
        writer.add_pad_token_id(ids["<pad>"])
    if ids["<mask>"] is not None:
        writer.add_mask_token_id(ids["<mask>"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)


def _charsmap(normalizer: dict[str, Any] | None) -> bytes | None:
    """The Precompiled normalizer's charsmap, alone or inside a Sequence."""
    if not normalizer:
        return None
    if normalizer.get("type") == "Precompiled":
        return base64.b64decode(normalizer["precompiled_charsmap"])
    for inner in normalizer.get("normalizers") or []:
        found = _charsmap(inner)
        if found:
            return found
    return None
