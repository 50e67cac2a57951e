"""Loading a base model folder for training or merging (causal or seq2seq, optionally 8/4-bit)."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.errors import TrainingError

QUANTIZATIONS = ("none", "8bit", "4bit")


@dataclass
class Base:
    """A base model with its tokenizer, as training and merging need it."""

    model: Any
    tokenizer: Any
    seq2seq: bool
    path: Path
    device: str
    quantization: str


def is_seq2seq_folder(path: Path) -> bool:
    """True for encoder-decoder models (T5 and friends), from config.json alone."""
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainingError(f"{path} has no readable config.json ({exc}); "
                            "is it a transformers model folder?") from exc
    return bool(config.get("is_encoder_decoder"))


def open_tokenizer(path: Path) -> Any:
    """The tokenizer of a model folder, offline and without remote code, as it is."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                             trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load the tokenizer of {path}: "
                            f"{str(exc).splitlines()[0][:200]}") from exc


def load_tokenizer(path: Path) -> Any:
    """The base's tokenizer, with a pad token (its EOS when it has none)."""
    tokenizer = open_tokenizer(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token_id is None:
        raise TrainingError(f"the tokenizer of {path} has no end-of-sequence token; "
                            "Lira needs one to teach the model to stop")
    return tokenizer


def pick_device(requested: str = "auto") -> str:
    """'cuda' when asked for or available under 'auto', else 'cpu'."""
    import torch

    if requested not in ("auto", "cpu", "cuda"):
        raise TrainingError(f"device must be auto, cpu or cuda, not {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' asked for but no CUDA GPU is available; use --device cpu")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def load_base(path: Path, device: str = "cpu", quantization: str = "none",
              tokenizer: Any = None) -> Base:
    """Load the base model in ``path`` in float32 (or 8/4-bit with bitsandbytes)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    if quantization not in QUANTIZATIONS:
        raise TrainingError(f"quantization must be one of {', '.join(QUANTIZATIONS)}")
    seq2seq = is_seq2seq_folder(path)
    auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(path)
    placement: dict[str, Any] = {"dtype": torch.float32}
    if quantization != "none":
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() \
            else torch.float32
        placement = {"device_map": {"": device}, "quantization_config": (
            BitsAndBytesConfig(load_in_8bit=True) if quantization == "8bit" else
            BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                               bnb_4bit_compute_dtype=compute))}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = auto.from_pretrained(str(path), local_files_only=True, trust_remote_code=False,
                                         use_safetensors=True, **placement)
    except (OSError, ValueError, RuntimeError) as exc:
        raise TrainingError(f"cannot load the base model from {path}: "
                            f"{str(exc).splitlines()[0][:200]}") from exc
    if quantization == "none":
        model.to(device)
    return Base(model, tokenizer, seq2seq, Path(path), device, quantization)
