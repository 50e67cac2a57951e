"""The adapter methods as peft configs, with target modules found in the model.

Defaults follow the layers' names, so they work for any model that uses the
usual ones: LoRA on the query and value projections (gpt2 ``c_attn``,
LLaMA/Gemma ``q_proj``/``v_proj``, T5 ``q``/``v``); IA3 on keys, values and the
feed-forward output (gpt2 ``c_attn`` + ``mlp.c_proj``, LLaMA/Gemma ``k_proj``,
``v_proj`` + ``down_proj``, T5 ``k``, ``v`` + ``wo``).  Any of them can be named
instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapters.errors import TrainingError

METHODS = ("lora", "ia3", "prompt-tuning", "lora+prompt-tuning")
# A stacked method's parts, the inner one first (adapters/stacked.py).
STACKED = {"lora+prompt-tuning": ("lora", "prompt-tuning")}

# Candidate layer names, most specific first; the first set the model fully has wins.
_LORA_TARGETS = (("q_proj", "v_proj"), ("c_attn",), ("query_key_value",), ("q", "v"),
                 ("query", "value"), ("Wqkv",))
_IA3_ATTENTION = (("k_proj", "v_proj"), ("c_attn",), ("query_key_value",), ("k", "v"),
                  ("key", "value"), ("Wqkv",))
_IA3_FEEDFORWARD = (("down_proj",), ("mlp.c_proj",), ("wo",), ("dense_4h_to_h",), ("fc2",))


@dataclass(frozen=True)
class MethodOptions:
    """Hyperparameters of the adapter itself (the ones a method does not use are ignored)."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ()  # empty: found from the layer names
    feedforward_modules: tuple[str, ...] = ()  # IA3 only; empty: found from the layer names
    virtual_tokens: int = 20
    prompt_init_text: str | None = None  # prompt tuning: start from this text's embeddings


def check_method(method: str) -> str:
    """``method`` if Lira trains it, else a one-line error."""
    if method not in METHODS:
        raise TrainingError(f"unknown method '{method}'; use one of {', '.join(METHODS)}")
    return method


def method_parts(method: str) -> tuple[str, ...]:
    """The single methods ``method`` is made of (itself, unless it is stacked)."""
    return STACKED.get(check_method(method), (method,))


def adapter_layers(model: Any) -> list[str]:
    """Full names of the layers an adapter can wrap (linear and gpt2-style Conv1D)."""
    import torch

    names = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Conv1D", "Linear8bitLt",
                                                                            "Linear4bit"):
            names.append(name)
    return names


def resolve_targets(method: str, model: Any,
                    options: MethodOptions) -> tuple[list[str], list[str]]:
    """(target modules, feed-forward modules) for ``method`` on ``model``."""
    layers = [n for n in adapter_layers(model) if not _is_head(model, n)]
    if method == "prompt-tuning":
        return [], []
    targets = list(options.target_modules) or _detect(layers, _LORA_TARGETS if method == "lora"
                                                      else _IA3_ATTENTION, "attention")
    check_present(targets, layers)
    if method == "lora":
        return targets, []
    ff = list(options.feedforward_modules) or _detect(layers, _IA3_FEEDFORWARD, "feed-forward")
    check_present(ff, layers)
    # IA3 rescales a feed-forward layer's input, which peft does only for wrapped layers.
    return targets + [m for m in ff if m not in targets], ff


def build_peft_config(method: str, model: Any, seq2seq: bool, options: MethodOptions,
                      tokenizer_path: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The peft config for ``method`` and the hyperparameters to record for it."""
    from peft import (
        IA3Config,
        LoraConfig,
        PromptTuningConfig,
        PromptTuningInit,
        TaskType,
    )

    if method_parts(method) != (method,):
        raise TrainingError(f"{method} is stacked; build a config for each of its parts")
    task = TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM
    targets, ff = resolve_targets(method, model, options)
    if method == "lora":
        check_positive(rank=options.rank, alpha=options.alpha)
        if not 0 <= options.dropout < 1:
            raise TrainingError(f"--dropout must be in [0, 1), not {options.dropout}")
        config = LoraConfig(task_type=task, r=options.rank, lora_alpha=options.alpha,
                            lora_dropout=options.dropout, target_modules=targets,
                            fan_in_fan_out=_transposed(model, targets))
        return config, {"rank": options.rank, "alpha": options.alpha,
                        "dropout": options.dropout, "target_modules": targets}
    if method == "ia3":
        config = IA3Config(task_type=task, target_modules=targets, feedforward_modules=ff,
                           fan_in_fan_out=_transposed(model, targets))
        return config, {"target_modules": targets, "feedforward_modules": ff}
    check_positive(virtual_tokens=options.virtual_tokens)
    init = {}
    if options.prompt_init_text:
        init = {"prompt_tuning_init": PromptTuningInit.TEXT,
                "prompt_tuning_init_text": options.prompt_init_text,
                "tokenizer_name_or_path": tokenizer_path}
    # peft gives a seq2seq model twice the rows (num_transformer_submodules=2) yet prompt tuning
    # prepends only the first num_virtual_tokens, to the encoder: the rest would be dead weights.
    config = PromptTuningConfig(task_type=task, num_virtual_tokens=options.virtual_tokens,
                                num_transformer_submodules=1, **init)
    return config, {"virtual_tokens": options.virtual_tokens,
                    "prompt_init_text": options.prompt_init_text,
                    "prepended_to": "encoder" if seq2seq else "input"}


def _transposed(model: Any, targets: Sequence[str]) -> bool:
    """Whether the targets are gpt2-style Conv1D layers, which store their weight transposed."""
    return any(type(module).__name__ == "Conv1D" for name, module in model.named_modules()
               if _matches_one(name, targets))


def _matches_one(name: str, targets: Sequence[str]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def _detect(layers: Sequence[str], candidates: tuple[tuple[str, ...], ...], what: str) -> list[str]:
    for names in candidates:
        if all(_matches(name, layers) for name in names):
            return list(names)
    raise TrainingError(f"cannot tell this model's {what} layers; name them with "
                        f"--target-modules / --feedforward-modules (its layers end in: "
                        f"{_leaf_summary(layers)})")


def check_present(modules: Sequence[str], layers: Sequence[str]) -> None:
    """Refuse any of ``modules`` that names none of the model's ``layers`` (peft's suffix rule)."""
    missing = [m for m in modules if not _matches(m, layers)]
    if missing:
        raise TrainingError(f"this model has no layer named {', '.join(missing)}; "
                            f"its layers end in: {_leaf_summary(layers)}")


def _matches(target: str, layers: Sequence[str]) -> bool:
    # peft's rule: a target names a layer exactly or as a dotted suffix.
    return any(name == target or name.endswith("." + target) for name in layers)


def _is_head(model: Any, name: str) -> bool:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return head is not None and model.get_submodule(name) is head


def _leaf_summary(layers: Sequence[str]) -> str:
    leaves = sorted({name.rsplit(".", 1)[-1] for name in layers})
    return ", ".join(leaves[:20]) or "none"


def check_positive(**values: int) -> None:
    """Refuse a value below 1, naming it as its flag (``rank=0``: "--rank must be at least 1")."""
    for name, value in values.items():
        if value < 1:
            raise TrainingError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
