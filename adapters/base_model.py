"""Loading a base model folder (causal or seq2seq, optionally 8/4-bit), for every use of one.

Training and merging (``load_base``) and Lira's generator
(assistant/runtime/loading.py) all choose the device, tell seq2seq from
causal models, open the tokenizer and place the weights through here.
Errors are one-line BaseModelError exceptions; the generator re-raises them
as its own SettingsError or ModelLoadError with the same message.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.errors import BaseModelError, TrainingError, first_line
from adapters.model_size import check_fits, precision_of

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


def check_quantization(quantization: str) -> None:
    """Refuse a quantization other than none, 8bit or 4bit."""
    if quantization not in QUANTIZATIONS:
        raise BaseModelError(f"quantization must be one of {', '.join(QUANTIZATIONS)}")


def pick_device(requested: str = "auto") -> str:
    """'cuda' when asked for or available under 'auto', else 'cpu'."""
    import torch

    if requested not in ("auto", "cpu", "cuda"):
        raise BaseModelError(f"device must be auto, cpu or cuda, not {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise BaseModelError("device 'cuda' asked for but no CUDA GPU is available; use --device cpu")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def is_seq2seq_folder(path: Path) -> bool:
    """True for encoder-decoder models (T5 and friends), from config.json alone."""
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BaseModelError(f"{path} has no readable config.json ({exc}); "
                             "is it a transformers model folder?") from exc
    return bool(config.get("is_encoder_decoder"))


# A tokenizer's vocabulary lives in one of these (a sentencepiece model is any *.model).
VOCABULARY_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "tekken.json")


def has_vocabulary(path: Path) -> bool:
    """Whether a model folder holds a tokenizer's vocabulary file."""
    path = Path(path)
    return any((path / name).is_file() for name in VOCABULARY_FILES) or any(path.glob("*.model"))


def pretrained_tokenizer(path: Path) -> Any:
    """The tokenizer of a model folder, offline and without remote code (transformers' errors).

    A folder without a vocabulary file is a BaseModelError: transformers would quietly build
    a tokenizer that knows only its special tokens and turns every word into <unk>.
    """
    from transformers import AutoTokenizer

    if not has_vocabulary(path):
        raise BaseModelError(f"{path} has no tokenizer files (tokenizer.json, spiece.model, "
                             "tokenizer.model, vocab.json...); copy the model's tokenizer files into it")

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                         trust_remote_code=False)


def open_tokenizer(path: Path) -> Any:
    """The tokenizer of a model folder, offline and without remote code, as it is."""
    try:
        return pretrained_tokenizer(path)
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"cannot load the tokenizer of {path}: {tokenizer_failure(path, exc)}") from exc


def tokenizer_failure(path: Path, exc: BaseException) -> str:
    """Why a tokenizer did not load, in one line. Without the sentencepiece package,
    transformers falls back to other readers of a *.model file and reports theirs
    (`tiktoken` is required...), which hides the real cause."""
    text = first_line(exc)
    if any(Path(path).glob("*.model")) and any(w in text.lower() for w in ("tiktoken", "sentencepiece",
                                                                           "protobuf")):
        return ("its sentencepiece tokenizer needs the sentencepiece and protobuf packages "
                f"(pip install sentencepiece protobuf; transformers said: {text})")
    return text


def with_pad_token(tokenizer: Any) -> Any:
    """``tokenizer``, its EOS token made its pad token when it has none."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_tokenizer(path: Path) -> Any:
    """The base's tokenizer for training, with a pad token (its EOS when it has none)."""
    tokenizer = with_pad_token(open_tokenizer(path))
    if tokenizer.eos_token_id is None:
        raise TrainingError(f"the tokenizer of {path} has no end-of-sequence token; "
                            "Lira needs one to teach the model to stop")
    return tokenizer


def compute_dtype(device: str) -> Any:
    """bfloat16 on a CUDA GPU that has it (Gemma 3's activations overflow float16 to NaN),
    else float32."""
    import torch

    return torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() \
        else torch.float32


def placement(device: str, quantization: str, *,
              float32_weights: bool = False) -> dict[str, Any]:
    """from_pretrained keyword arguments for dtype and bitsandbytes loading.

    Unquantised weights load in :func:`compute_dtype`, or in float32 whatever
    the device with ``float32_weights`` (training); on a GPU every weight goes
    straight to ``device``, 4-bit computing in :func:`compute_dtype`.
    """
    import torch

    if quantization == "none":
        dtype = torch.float32 if float32_weights else compute_dtype(device)
        # straight to the GPU: loading on the CPU first would need the weights in RAM too
        return {"dtype": dtype} | ({"device_map": {"": device}} if device == "cuda" else {})
    from transformers import BitsAndBytesConfig

    config = (BitsAndBytesConfig(load_in_8bit=True) if quantization == "8bit" else
              BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                 bnb_4bit_compute_dtype=compute_dtype(device)))
    return {"quantization_config": config, "device_map": {"": device}}


@contextmanager
def quiet_load(what: str, path: Path) -> Iterator[None]:
    """Hush transformers' warnings while loading; its failures become one-line BaseModelErrors.

    The message reads "cannot load {what} from {path}: " and the first line of the failure.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except (OSError, ValueError, RuntimeError) as exc:
        raise BaseModelError(f"cannot load {what} from {path}: {tokenizer_failure(path, exc)}") from exc


def from_pretrained(path: Path, seq2seq: bool, device: str, quantization: str, what: str, *,
                    float32_weights: bool = False) -> Any:
    """The model in ``path`` on ``device``: offline, no remote code, safetensors only.

    Placed as :func:`placement` says; a failure is a BaseModelError (see
    :func:`quiet_load`, which ``what`` is for). A model whose weights cannot fit the
    device's memory is refused before any weight is read (adapters.model_size;
    LIRA_SKIP_FIT_CHECK=1 skips that); one that may not fit with its overhead is logged.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    dtype = torch.float32 if float32_weights else compute_dtype(device)
    # float32 weights are load_base's, for training (and merging, which needs less)
    note = check_fits(path, device, precision_of(dtype, quantization),
                      "train" if float32_weights else "run", what)
    if note:
        logging.getLogger(__name__).warning("lira: note: %s", note)
    auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    with quiet_load(what, path):
        model = auto.from_pretrained(str(path), local_files_only=True, trust_remote_code=False,
                                     use_safetensors=True,
                                     **placement(device, quantization,
                                                 float32_weights=float32_weights))
    if quantization == "none":
        model.to(device)
    return model


def load_base(path: Path, device: str = "cpu", quantization: str = "none",
              tokenizer: Any = None) -> Base:
    """Load the base model in ``path`` in float32 (or 8/4-bit with bitsandbytes)."""
    check_quantization(quantization)
    seq2seq = is_seq2seq_folder(path)
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(path)
    model = from_pretrained(path, seq2seq, device, quantization, "the base model",
                            float32_weights=True)
    return Base(model, tokenizer, seq2seq, Path(path), device, quantization)
