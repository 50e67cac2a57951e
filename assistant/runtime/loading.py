"""Loading a generator: base model (causal or seq2seq), device, quantisation, adapter."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ModelLoadError, SettingsError
from assistant.settings import SpeedSettings

QUANTIZATIONS = ("none", "8bit", "4bit")


@dataclass
class LoadedModel:
    """A ready model with its tokenizer and a description for status lines."""

    model: Any
    tokenizer: Any
    is_seq2seq: bool
    device: str
    name: str
    adapter: str | None
    quantization: str
    speed: SpeedSettings = field(default_factory=SpeedSettings)
    speedups: tuple[str, ...] = ()  # what speed_up applied, for status lines and benchmarks
    decode_step: Any = None  # a one-token step for Lira's decode loop, when speed_up made one

    @property
    def context_window(self) -> int:
        """Longest prompt + answer the model was trained for."""
        config = self.model.config
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(config, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return 2048  # T5 has relative positions and no hard limit

    def describe(self) -> str:
        adapter = Path(self.adapter).name if self.adapter else "no adapter"
        extras = "".join(f", {s}" for s in self.speedups)
        return f"{self.name} + {adapter} ({self.device}, {self.quantization}{extras})"


def pick_device(requested: str = "auto") -> str:
    """'cuda' when asked for or available under 'auto', else 'cpu'."""
    import torch

    if requested not in ("auto", "cpu", "cuda"):
        raise SettingsError(f"device must be auto, cpu or cuda, not {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise SettingsError("device 'cuda' asked for but no CUDA GPU is available; use --device cpu")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def is_seq2seq_config(path: Path) -> bool:
    """True for encoder-decoder models (T5 and friends), from config.json alone."""
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} has no readable config.json ({exc}); "
                             "is it a transformers model folder?") from exc
    return bool(config.get("is_encoder_decoder"))


def load_model(path: Path, name: str, device: str = "auto", quantization: str = "none",
               adapter: Path | None = None, speed: SpeedSettings | None = None) -> LoadedModel:
    """Load a model folder for generation, optionally quantised and with an adapter.

    ``speed`` turns on the speed-ups of assistant.runtime.cpu.speedups (None: none of them).
    """
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    if quantization not in QUANTIZATIONS:
        raise SettingsError(f"quantization must be one of {', '.join(QUANTIZATIONS)}")
    device = pick_device(device)
    seq2seq = is_seq2seq_config(path)
    auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tokenizer = _load_tokenizer(path)
            model = auto.from_pretrained(str(path), local_files_only=True,
                                         trust_remote_code=False, use_safetensors=True,
                                         **_placement(device, quantization))
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot load model '{name}' from {path}: "
                             f"{str(exc).splitlines()[0][:200]}") from exc
    if quantization == "none":
        model.to(device)
    if adapter is not None:
        from adapters.loading import attach_adapter

        model = attach_adapter(model, adapter)
    model.eval()
    speed = speed or SpeedSettings.off()
    from assistant.runtime.cpu.speedups import speed_up

    model, applied, step = speed_up(model, tokenizer, speed, device, quantization, seq2seq,
                                    path)
    from assistant.runtime.cpu.heap import release_free_heap

    release_free_heap()
    return LoadedModel(model, tokenizer, seq2seq, device, name,
                       str(adapter) if adapter else None, quantization, speed, tuple(applied),
                       step)


def _load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                              trust_remote_code=False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _placement(device: str, quantization: str) -> dict[str, Any]:
    """from_pretrained keyword arguments for dtype and bitsandbytes loading."""
    import torch

    if quantization == "none":
        return {"dtype": _gpu_dtype() if device == "cuda" else torch.float32}
    from transformers import BitsAndBytesConfig

    config = (BitsAndBytesConfig(load_in_8bit=True) if quantization == "8bit" else
              BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                 bnb_4bit_compute_dtype=_gpu_dtype() if device == "cuda"
                                 else torch.float32))
    return {"quantization_config": config, "device_map": {"": device}}



def _gpu_dtype():
    """bfloat16 where the GPU has it: Gemma 3's activations overflow float16 to NaN."""
    import torch

    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
