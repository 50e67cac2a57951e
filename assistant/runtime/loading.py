"""Loading a generator: base model (causal or seq2seq), device, quantisation, adapter.

The base is opened by adapters/base_model.py, as training opens it; its
BaseModelErrors become Lira's SettingsError (device, quantization) or
ModelLoadError (the folder) with the same message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters import base_model
from adapters.errors import BaseModelError
from assistant.errors import ModelLoadError, SettingsError
from assistant.settings import SpeedSettings


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
    try:
        return base_model.pick_device(requested)
    except BaseModelError as exc:
        raise SettingsError(str(exc)) from exc


def load_model(path: Path, name: str, device: str = "auto", quantization: str = "none",
               adapter: Path | None = None, speed: SpeedSettings | None = None) -> LoadedModel:
    """Load a model folder for generation, optionally quantised and with an adapter.

    ``speed`` turns on the speed-ups of assistant.runtime.cpu.speedups (None: none of them).
    """
    try:
        base_model.check_quantization(quantization)
    except BaseModelError as exc:
        raise SettingsError(str(exc)) from exc
    device = pick_device(device)
    if speed is not None and speed.threads:
        import torch

        torch.set_num_threads(speed.threads)
    what = f"model '{name}'"
    try:
        seq2seq = base_model.is_seq2seq_folder(path)
        with base_model.quiet_load(what, path):
            tokenizer = base_model.with_pad_token(base_model.pretrained_tokenizer(path))
        model = base_model.from_pretrained(path, seq2seq, device, quantization, what)
    except BaseModelError as exc:
        raise ModelLoadError(str(exc)) from exc
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
