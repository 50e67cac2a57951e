"""An output layer that computes logits for a subset of the vocabulary only (see vocab_subset)."""

from __future__ import annotations

import torch


class RestrictedHead(torch.nn.Module):
    """Logits for the rows ``ids`` of a Linear head, scattered into a full-size row of -inf."""

    def __init__(self, head: torch.nn.Linear, ids: list[int]):
        super().__init__()
        index = torch.tensor(ids, dtype=torch.long, device=head.weight.device)
        self.register_buffer("ids", index, persistent=False)
        # A copy, not a view: with tied weights the full matrix stays the input embedding.
        self.weight = torch.nn.Parameter(head.weight.detach()[index].clone(), requires_grad=False)
        self.bias = (torch.nn.Parameter(head.bias.detach()[index].clone(), requires_grad=False)
                     if head.bias is not None else None)
        self.vocab_size = head.weight.shape[0]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        partial = torch.nn.functional.linear(hidden, self.weight, self.bias)
        full = partial.new_full((*partial.shape[:-1], self.vocab_size), float("-inf"))
        return full.index_copy_(-1, self.ids, partial)
