"""Training examples: a prompt and its answer, tokenised with the loss on the answer only.

A causal model sees ``prompt + answer + EOS`` as one sequence whose labels are
-100 on every prompt token, so it learns to answer, not to repeat prompts.  A
seq2seq model reads the prompt in its encoder and is trained on the answer.
The EOS at the end is part of the answer: it is how the model learns to stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

IGNORE = -100  # the label value torch's cross-entropy skips


@dataclass(frozen=True)
class Example:
    """One prompt and the answer the model should give to it."""

    prompt: str
    answer: str
    group: str = ""  # author or article: what hold-outs and reports count by


@dataclass
class Encoded:
    """Token ids of one example, ready for a collator."""

    input_ids: list[int]
    labels: list[int]
    answer_tokens: int = field(default=0)


def encode_example(example: Example, tokenizer: Any, seq2seq: bool) -> Encoded:
    """Token ids and labels for ``example`` (labels are -100 on the prompt)."""
    eos = tokenizer.eos_token_id
    if seq2seq:
        prompt_ids = tokenizer(example.prompt)["input_ids"]  # the encoder's own specials
        answer_ids = tokenizer(example.answer.strip(), add_special_tokens=False)["input_ids"]
        answer_ids = answer_ids + [eos]
        return Encoded(prompt_ids, answer_ids, len(answer_ids))
    prompt_ids = _leading_specials(tokenizer) + tokenizer(
        example.prompt, add_special_tokens=False)["input_ids"]
    # Prompt and answer are tokenised apart so the boundary between them is exact;
    # a prompt ending in "Ответ:" is followed by a space, as in running text.
    answer = example.answer.strip()
    if example.prompt and not example.prompt[-1].isspace():
        answer = " " + answer
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [eos]
    return Encoded(prompt_ids + answer_ids, [IGNORE] * len(prompt_ids) + answer_ids,
                   len(answer_ids))


def encode_all(examples: Sequence[Example], tokenizer: Any, seq2seq: bool,
               max_length: int) -> tuple[list[Encoded], int]:
    """Encode every example; ones longer than ``max_length`` tokens are dropped and counted.

    Cutting a long example would cut off its EOS and teach the model never to
    stop, so it is dropped instead.
    """
    kept, dropped = [], 0
    for example in examples:
        encoded = encode_example(example, tokenizer, seq2seq)
        if len(encoded.input_ids) > max_length or len(encoded.labels) > max_length:
            dropped += 1
            continue
        kept.append(encoded)
    return kept, dropped


class Collator:
    """Pads a batch: inputs with the pad id (mask 0), labels with -100."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, items: Sequence[Encoded]) -> dict[str, Any]:
        import torch

        width = max(len(item.input_ids) for item in items)
        label_width = max(len(item.labels) for item in items)
        ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        labels = torch.full((len(items), label_width), IGNORE, dtype=torch.long)
        for row, item in enumerate(items):
            ids[row, :len(item.input_ids)] = torch.tensor(item.input_ids)
            mask[row, :len(item.input_ids)] = 1
            labels[row, :len(item.labels)] = torch.tensor(item.labels)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _leading_specials(tokenizer: Any) -> list[int]:
    """The BOS a causal tokenizer puts first (Gemma, LLaMA), never a trailing EOS."""
    ids = tokenizer("")["input_ids"]
    bos = tokenizer.bos_token_id
    return [i for i in ids if i == bos and bos != tokenizer.eos_token_id][:1]
