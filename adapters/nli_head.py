"""The NLI classifier's head: which modules it is, how its pooler starts, how fast it learns.

The bundled e5 has no pooler (its weights are zeros: e5 pools by averaging),
and its ``<s>`` states sit close together: from pair to pair each feature
moves by about a twentieth of the state's size.  A head on such features
starting from small random weights passed back tiny gradients, and LoRA runs
sat at the label prior for hundreds of steps.  So a blank pooler starts as a
standardiser of the ``<s>`` state, measured on a sample of the training pairs
(``tanh`` of half the z-score: nearly linear over the usual range), and the
head learns at a multiple of LoRA's rate.  The head is trained whole and
saved with the adapter (peft ``modules_to_save``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from adapters.examples import Collator

HEAD_MODULES = ("classifier", "pooler")
HEAD_LR_FACTOR = 10
POOLER_SAMPLE = 256  # training pairs measured for the pooler's start
_BATCH = 32


def head_modules(model: Any) -> list[str]:
    """The head's module names that ``model`` has (BERT: classifier and pooler)."""
    names = [full for full, _ in model.named_modules()]
    return [h for h in HEAD_MODULES if any(n == h or n.endswith("." + h) for n in names)]


def init_blank_pooler(model: Any, rows: Sequence[Any], pad_token_id: int, seed: int) -> bool:
    """Set an all-zero BERT pooler to standardise the ``<s>`` state; True if it was blank.

    ``rows`` are encoded training pairs (with ``input_ids``); a seeded sample
    of them is run through the encoder once.
    """
    import torch

    dense = getattr(getattr(getattr(model, "bert", None), "pooler", None), "dense", None)
    if dense is None or dense.weight.any() or not rows:
        return False
    sample = random.Random(seed).sample(list(rows), min(POOLER_SAMPLE, len(rows)))
    states = _first_token_states(model.bert, sample, pad_token_id)
    mean = states.mean(0)
    std = states.std(0).clamp_min(1e-4) if len(states) > 1 else torch.ones_like(mean)
    with torch.no_grad():
        dense.weight.copy_(torch.diag(0.5 / std))
        dense.bias.copy_(-0.5 * mean / std)
    return True


def head_optimizer(model: Any, lr: float, weight_decay: float) -> Any:
    """AdamW with the head's trainable copies learning ``HEAD_LR_FACTOR`` times faster."""
    import torch

    groups: dict[bool, list[Any]] = {True: [], False: []}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            groups["modules_to_save" in name].append(parameter)
    return torch.optim.AdamW([{"params": groups[False], "lr": lr},
                              {"params": groups[True], "lr": lr * HEAD_LR_FACTOR}],
                             lr=lr, weight_decay=weight_decay)


def _first_token_states(encoder: Any, rows: Sequence[Any], pad_token_id: int) -> Any:
    import torch

    was_training = encoder.training
    encoder.eval()
    states = []
    device = next(encoder.parameters()).device
    with torch.no_grad():
        for start in range(0, len(rows), _BATCH):
            batch = Collator(pad_token_id)(rows[start:start + _BATCH])
            out = encoder(input_ids=batch["input_ids"].to(device),
                          attention_mask=batch["attention_mask"].to(device))
            states.append(out.last_hidden_state[:, 0].float())
    encoder.train(was_training)
    return torch.cat(states)
