"""The language-model loss without logits for the positions that carry no loss.

Gemma 3's vocabulary has 262k tokens, so on a CPU its output layer costs more
than the rest of a training step.  Only answer tokens carry a loss, and a
grounded-answer prompt is hundreds of tokens long for an answer of ten.  So
the model runs with its output layer swapped for the identity, which makes it
return the final hidden states; the positions whose (shifted) label is not
-100 are gathered and only those go through the real output layer.

This works through any peft wrapper: LoRA and IA3 change layers inside the
body, and prompt tuning prepends virtual tokens, which show up here as extra
leading positions (an offset) and are accounted for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from adapters.examples import IGNORE


def inner_model(model: Any) -> Any:
    """The transformers model inside peft (and accelerate) wrappers."""
    while True:
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()
        elif hasattr(model, "module") and not hasattr(model, "config"):
            model = model.module
        else:
            return model


def supports_masked_loss(model: Any) -> bool:
    """Whether the output layer is a direct child that can be swapped out."""
    hf = inner_model(model)
    head = hf.get_output_embeddings() if hasattr(hf, "get_output_embeddings") else None
    return head is not None and _child_name(hf, head) is not None


def masked_lm_loss(model: Any, inputs: dict[str, Any], seq2seq: bool,
                   num_items_in_batch: Any = None) -> Any:
    """Cross-entropy over the answer tokens, equal to the model's own loss.

    Reduced like transformers' loss: a sum divided by ``num_items_in_batch``
    when given (token-weighted over gradient accumulation), else a mean.
    """
    import torch
    import torch.nn.functional as F

    labels = inputs["labels"]
    feed = {k: v for k, v in inputs.items() if k != "labels"}
    hf = inner_model(model)
    if seq2seq and "decoder_input_ids" not in feed:
        feed["decoder_input_ids"] = hf.prepare_decoder_input_ids_from_labels(labels=labels)
    with _hidden_instead_of_logits(hf) as (head, softcap):
        hidden = model(**feed, use_cache=False)["logits"]
    if seq2seq:
        states, targets = hidden, labels
    else:
        offset = hidden.shape[1] - labels.shape[1]  # prompt tuning's virtual tokens
        if offset > 0:  # the last virtual token predicts the first real one
            states, targets = hidden[:, offset - 1:-1], labels
        else:
            states, targets = hidden[:, :-1], labels[:, 1:]
    keep = targets != IGNORE
    logits = head(states[keep])
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    total = F.cross_entropy(logits.float(), targets[keep], reduction="sum")
    if num_items_in_batch is not None:
        return total / num_items_in_batch
    return total / keep.sum().clamp(min=1)


@contextmanager
def _hidden_instead_of_logits(hf: Any) -> Iterator[tuple[Any, float | None]]:
    """Swap the output layer for the identity; yields the real one and any logit soft-cap.

    Gemma 2 soft-caps its logits after the output layer; that must not touch the
    hidden states, so it is switched off here and applied by the caller.
    """
    import torch

    head = hf.get_output_embeddings()
    name = _child_name(hf, head)
    if name is None:
        raise ValueError("the output layer is not a direct child of the model")
    softcap = getattr(hf.config, "final_logit_softcapping", None)
    setattr(hf, name, torch.nn.Identity())
    if softcap:
        hf.config.final_logit_softcapping = None
    try:
        yield head, softcap
    finally:
        setattr(hf, name, head)
        if softcap:
            hf.config.final_logit_softcapping = softcap


def _child_name(parent: Any, child: Any) -> str | None:
    return next((name for name, module in parent.named_children() if module is child), None)
