"""How much memory a base model needs, and a one-line refusal before loading one that cannot fit.

The parameters are counted exactly by building the model from its config.json on torch's
``meta`` device (shapes only, no memory). The memory figures are a deliberately simple model:

- weights: float32 4 bytes a parameter, bfloat16 2; 8-bit and 4-bit (bitsandbytes) convert
  only the Linear/Conv1D layers transformers converts (not the embeddings, the output layer,
  norms, biases or a model's fp32-kept modules such as T5's ``wo``): 1 byte and 0.5 byte (plus
  4 bytes of NF4 scale per 64 weights) for those, 2 bytes (bfloat16) for the rest;
- running adds a KV cache of ``CONTEXT`` tokens (2 x layers x hidden x tokens, at 2 bytes, 4 in
  float32: an upper bound, grouped-query attention stores less) and ``RUNTIME_BYTES`` for torch,
  the CUDA context, the tokenizer and the embedder;
- training an adapter adds the adapter (assumed ``ADAPTER_SHARE`` of the base: LoRA rank 8 on
  the attention is 0.1-0.3%) with its float32 gradients and AdamW's two states (16 bytes a
  parameter), activations for ``TRAIN_BATCH`` x ``TRAIN_SEQUENCE`` tokens without gradient
  checkpointing (Lira's defaults): 34 x hidden + 5 x heads x sequence bytes a token and layer
  in 16-bit (Korthikanti et al., 2022), doubled in float32, the logits and their gradient in
  float32 (2 x vocabulary x 4 bytes a token), and ``RUNTIME_BYTES``.

Lira refuses a model only when its weights alone exceed the memory available (that can never
load); when weights and overhead do, it loads and says so in a note (``check_fits``).
``LIRA_SKIP_FIT_CHECK=1`` turns the check off (swap, unified memory).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.errors import BaseModelError

SKIP_FIT_CHECK = "LIRA_SKIP_FIT_CHECK"
PRECISIONS = ("fp32", "bf16", "8bit", "4bit")
PURPOSES = ("run", "train")
GB = 1e9
CONTEXT = 2048
RUNTIME_BYTES = 1 * 10**9
ADAPTER_SHARE = 0.01
TRAIN_BATCH = 1
TRAIN_SEQUENCE = 1024
# bytes a parameter, for the quantised layers and for the rest
QUANTISED_BYTES = {"fp32": 4.0, "bf16": 2.0, "8bit": 1.0, "4bit": 0.5 + 4 / 64}
KEPT_BYTES = {"fp32": 4.0, "bf16": 2.0, "8bit": 2.0, "4bit": 2.0}

# The seed models' config.json fields that decide their size (the rest are defaults that
# add no parameters), as published on the Hugging Face Hub (main branches): model_type, fields.
SEED_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    # t5-large's shape (relu, tied embeddings) with ruT5's 32,128-token vocabulary
    "ai-forever/ruT5-large": ("t5", dict(
        vocab_size=32128, d_model=1024, d_kv=64, d_ff=4096, num_layers=24,
        num_decoder_layers=24, num_heads=16, feed_forward_proj="relu", tie_word_embeddings=True)),
    "openlm-research/open_llama_3b": ("llama", dict(
        vocab_size=32000, hidden_size=3200, intermediate_size=8640, num_hidden_layers=26,
        num_attention_heads=32, max_position_embeddings=2048, tie_word_embeddings=False)),
    "openlm-research/open_llama_7b": ("llama", dict(
        vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
        num_attention_heads=32, max_position_embeddings=2048, tie_word_embeddings=False)),
    # GPT-2 architecture; n_inner unset: 4 x n_embd; the output layer tied to wte
    "ai-forever/ruGPT-3.5-13B": ("gpt2", dict(
        vocab_size=50272, n_embd=5120, n_layer=40, n_head=40, n_positions=2048)),
    # as in the config.json of the bundled gemma-3-270m folder Lira prepares
    "google/gemma-3-270m": ("gemma3_text", dict(
        vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
        num_attention_heads=4, num_key_value_heads=1, head_dim=256,
        max_position_embeddings=32768, tie_word_embeddings=True)),
}


def seed_config(name: str) -> Any:
    """The transformers config of seed model ``name`` (a SEED_CONFIGS key), built offline."""
    from transformers import AutoConfig

    model_type, fields = SEED_CONFIGS[name]
    return AutoConfig.for_model(model_type, **fields)


@dataclass(frozen=True)
class ModelShape:
    """What the memory figures need to know of a model: its parameters and its sizes."""

    parameters: int
    quantisable: int  # in the layers bitsandbytes converts
    layers: int  # encoder and decoder together
    hidden: int
    heads: int
    vocabulary: int


@dataclass(frozen=True)
class Need:
    """The memory a model needs for one purpose at one precision, in bytes."""

    weights: int
    total: int


def meta_model(config: Any) -> Any:
    """The model of ``config`` built on the meta device: every shape, no memory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    auto = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) \
        else AutoModelForCausalLM
    with torch.device("meta"):
        return auto.from_config(config)


def parameter_count(config: Any) -> int:
    """The exact number of parameters of ``config``'s model (tied weights counted once)."""
    return sum(p.numel() for p in meta_model(config).parameters())


def quantisable_count(model: Any) -> int:
    """Weights of the Linear/Conv1D layers bitsandbytes would convert in ``model``."""
    from torch import nn
    from transformers.pytorch_utils import Conv1D
    from transformers.quantizers.base import get_keys_to_not_convert
    from transformers.quantizers.quantizers_utils import should_convert_module

    skip = get_keys_to_not_convert(model) + list(getattr(model, "_keep_in_fp32_modules", None) or [])
    return sum(module.weight.numel() for name, module in model.named_modules()
               if (isinstance(module, Conv1D) or type(module) is nn.Linear)
               and should_convert_module(name, skip))


def model_shape(config: Any) -> ModelShape:
    """The :class:`ModelShape` of ``config``'s model, from a meta-device build."""
    model = meta_model(config)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layers = text.num_hidden_layers + (getattr(text, "num_decoder_layers", 0) or 0
                                       if getattr(text, "is_encoder_decoder", False) else 0)
    return ModelShape(sum(p.numel() for p in model.parameters()), quantisable_count(model),
                      layers, text.hidden_size, text.num_attention_heads, text.vocab_size)


def check_choice(precision: str, purpose: str) -> None:
    """Refuse a precision or purpose these figures do not know."""
    if precision not in PRECISIONS or purpose not in PURPOSES:
        raise ValueError(f"precision must be one of {PRECISIONS} and purpose one of {PURPOSES}")


def weight_bytes(shape: ModelShape, precision: str) -> int:
    """Bytes of the weights alone at ``precision``."""
    kept = shape.parameters - shape.quantisable
    return int(shape.quantisable * QUANTISED_BYTES[precision] + kept * KEPT_BYTES[precision])


def run_overhead(shape: ModelShape, precision: str) -> int:
    """KV cache of CONTEXT tokens and the runtime, in bytes."""
    kv_bytes = 4 if precision == "fp32" else 2
    return 2 * shape.layers * shape.hidden * CONTEXT * kv_bytes + RUNTIME_BYTES


def train_overhead(shape: ModelShape, precision: str) -> int:
    """The adapter with its gradients and AdamW states, activations and logits, in bytes."""
    adapter = int(shape.parameters * ADAPTER_SHARE) * 16
    tokens = TRAIN_BATCH * TRAIN_SEQUENCE
    per_token_layer = 34 * shape.hidden + 5 * shape.heads * TRAIN_SEQUENCE
    activations = tokens * shape.layers * per_token_layer * (2 if precision == "fp32" else 1)
    logits = tokens * shape.vocabulary * 4 * 2
    return adapter + activations + logits + RUNTIME_BYTES


def bytes_needed(shape: ModelShape, precision: str, purpose: str) -> Need:
    """The memory to ``purpose`` ("run" or "train" an adapter) the model at ``precision``
    ("fp32", "bf16", "8bit", "4bit"), as the module's docstring models it."""
    check_choice(precision, purpose)
    weights = weight_bytes(shape, precision)
    overhead = run_overhead if purpose == "run" else train_overhead
    return Need(weights, weights + overhead(shape, precision))


def available_bytes(device: str) -> int | None:
    """Memory free on ``device``: MemAvailable on Linux for "cpu", the free memory of the
    current GPU for "cuda"; None where Lira cannot tell."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    if not sys.platform.startswith("linux"):
        return None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def folder_shape(folder: Path) -> ModelShape | None:
    """The shape of the model in ``folder``, or None when its config cannot be built
    (the loader then reports the real failure)."""
    import warnings

    from transformers import AutoConfig

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = AutoConfig.from_pretrained(str(folder), local_files_only=True,
                                                trust_remote_code=False)
            return model_shape(config)
    except Exception:  # noqa: BLE001 - any failure here is the loader's to report
        return None


def billions(parameters: int) -> str:
    """1234567890 -> "1.23B", 737000000 -> "737M"."""
    return f"{parameters / 1e9:.2f}B" if parameters >= 1e9 else f"{parameters / 1e6:.0f}M"


def advice(device: str) -> str:
    """What to do when a model does not fit ``device``."""
    if device == "cuda":
        return "use a smaller model, --quantization 8bit or 4bit, or a GPU with more memory"
    return ("use a smaller model, a GPU (--device cuda) with --quantization 8bit or 4bit, "
            "or free or add memory")


def check_fits(folder: Path, device: str, precision: str, purpose: str = "run",
               what: str = "") -> str | None:
    """Refuse, with a one-line BaseModelError, a model whose weights alone exceed the memory
    available on ``device``; return a note when weights and overhead do, else None.

    ``what`` names the model in the messages (default: "model <folder name>").

    Nothing is checked with LIRA_SKIP_FIT_CHECK=1, where the memory or the config is unknown.
    """
    if os.environ.get(SKIP_FIT_CHECK, "") not in ("", "0"):
        return None
    free = available_bytes(device)
    shape = folder_shape(folder) if free is not None else None
    if shape is None:
        return None
    need = bytes_needed(shape, precision, purpose)
    where = f"{device} has {free / GB:.1f} GB available"
    what = f"{what or f'model {Path(folder).name}'} ({billions(shape.parameters)} parameters)"
    if need.weights > free:
        raise BaseModelError(f"{what} needs {need.weights / GB:.1f} GB for its {precision} weights "
                             f"alone but {where}; {advice(device)} "
                             f"({SKIP_FIT_CHECK}=1 loads it anyway)")
    if need.total > free:
        return (f"{what} needs about {need.total / GB:.1f} GB to {purpose} in {precision} "
                f"and {where}: it may run out of memory")
    return None


def precision_of(dtype: Any, quantization: str) -> str:
    """The PRECISIONS name of weights loaded in torch ``dtype`` or quantised ("8bit", "4bit")."""
    import torch

    if quantization != "none":
        return quantization
    return "fp32" if dtype == torch.float32 else "bf16"
