"""Continued training of an NLI classifier from a trained adapter: its LoRA, or the whole encoder.

Both start from the same point, the encoder with the adapter (``start``):

- ``lora``: the adapter's LoRA weights and its head train on, the base frozen;
  the result is an adapter folder like the one it came from;
- ``full``: the adapter merged into the encoder, then every weight trained
  except the word embeddings (250k rows of a multilingual vocabulary that a
  few thousand Russian pairs would only disturb).  The result is a whole
  model, not an adapter.

A plain loop rather than the Trainer: one pass over a few thousand pairs, in
batches of like lengths, with the loss of adapters/nli_training.py, a linear
schedule with warm-up, the head at its usual faster rate, and a time limit
that ends the pass early (reported) instead of running on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.data_nli import NliPair
from adapters.errors import TrainingError
from adapters.examples import Collator
from adapters.loading import attach_adapter
from adapters.manifest import folder_fingerprint
from adapters.nli import encode_pairs, load_classifier
from adapters.nli_head import HEAD_LR_FACTOR, HEAD_MODULES
from adapters.nli_training import PairRow, nli_loss
from adapters.trained_adapter import save_adapter_folder

METHODS = ("lora", "full")
_GROUP = 50  # batches whose pairs are sorted by length together


@dataclass(frozen=True)
class FineTuneOptions:
    """How to continue training: method, rates, batch, epochs, a time limit in minutes, seed."""

    method: str = "lora"
    lr: float = 2e-4
    batch_size: int = 16
    epochs: float = 1.0
    warmup_fraction: float = 0.06
    max_length: int = 256
    max_minutes: float | None = None
    seed: int = 42


@dataclass
class FineTuneResult:
    """What the run did: steps taken of those planned, mean and last losses, seconds."""

    steps: int
    planned: int
    mean_loss: float
    last_loss: float
    seconds: float
    stopped_by_time: bool


def prepare(model: Any, method: str) -> Any:
    """``model`` (a PeftModel over the classifier) made ready to train by ``method``."""
    if method not in METHODS:
        raise TrainingError(f"method must be one of {', '.join(METHODS)}, not {method}")
    if method == "full":
        model = model.merge_and_unload()
        for name, parameter in model.named_parameters():
            parameter.requires_grad_("word_embeddings" not in name)
    else:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_("lora_" in name or "modules_to_save" in name)
    return model.train()


def fine_tune(model: Any, tokenizer: Any, pairs: Sequence[NliPair], options: FineTuneOptions,
              say: Callable[[str], None] = lambda message: None) -> FineTuneResult:
    """Train ``model`` (from :func:`prepare`) on ``pairs`` in place."""
    import torch

    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    ids = encode_pairs(tokenizer, [(p.premise, p.hypothesis) for p in pairs], options.max_length)
    rows = [PairRow(input_ids=row, labels=[p.label]) for row, p in zip(ids, pairs)]
    collate = Collator(tokenizer.pad_token_id)
    planned = max(1, round(len(rows) * options.epochs / options.batch_size))
    optimizer = _optimizer(model, options.lr)
    warmup = max(1, round(planned * options.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (planned - step) / (planned - warmup + 1))))
    started, losses = time.monotonic(), []
    model.train()
    for step, batch in enumerate(_batches(rows, options, planned, rng)):
        if options.max_minutes is not None and time.monotonic() - started > 60 * options.max_minutes:
            say(f"time limit: stopped after {step} of {planned} steps")
            break
        inputs = collate(batch)
        labels = inputs.pop("labels")
        loss = nli_loss(model(**inputs), labels)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if (step + 1) % 25 == 0:
            say(f"step {step + 1}/{planned}: loss {sum(losses[-25:]) / 25:.4f} "
                f"({time.monotonic() - started:.0f} s)")
    model.eval()
    if not losses:
        raise TrainingError("no training step ran; give more time or pairs")
    return FineTuneResult(len(losses), planned, round(sum(losses) / len(losses), 4),
                          round(losses[-1], 4), round(time.monotonic() - started, 1),
                          len(losses) < planned)


def save_adapter(model: Any, manifest: dict[str, Any], out: Path, base_reference: str) -> None:
    """Write a LoRA-trained ``model`` and its ``manifest`` to ``out``, swapped in whole."""
    save_adapter_folder(model, Path(out), base_reference, manifest)


def load_start(folder: Path, adapter: Path) -> Any:
    """The classifier in ``folder`` with the NLI ``adapter`` attached (the common start)."""
    return attach_adapter(load_classifier(folder), Path(adapter),
                          base_fingerprint=folder_fingerprint(folder))


def _optimizer(model: Any, lr: float) -> Any:
    import torch

    groups: dict[bool, list[Any]] = {True: [], False: []}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            head = any(f"{h}." in name for h in HEAD_MODULES) and "encoder" not in name
            groups[head].append(parameter)
    return torch.optim.AdamW([{"params": groups[False], "lr": lr},
                              {"params": groups[True], "lr": lr * HEAD_LR_FACTOR}], lr=lr)


def _batches(rows: list, options: FineTuneOptions, planned: int, rng: random.Random):
    """``planned`` batches: shuffled passes, each group of batches sorted by length."""
    made = 0
    while made < planned:
        order = rows[:]
        rng.shuffle(order)
        size = options.batch_size * _GROUP
        batches = []
        for start in range(0, len(order), size):
            group = sorted(order[start:start + size], key=lambda row: len(row.input_ids))
            batches += [group[i:i + options.batch_size]
                        for i in range(0, len(group), options.batch_size)]
        rng.shuffle(batches)
        for batch in batches[:planned - made]:
            made += 1
            yield batch
