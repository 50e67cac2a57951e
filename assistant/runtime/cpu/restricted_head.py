"""An output layer that computes logits for a subset of the vocabulary only (see vocab_subset)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from assistant.runtime.cpu.int8_layers import int8_matmul, pack_int8_rows

# With int8 rows, this many of the best logits of each position are recomputed in float32.
RESCORED = 64
# Positions whose rescoring rows are gathered at once (bounds memory for long prompts).
_ROWS_AT_ONCE = 64


class RestrictedHead(torch.nn.Module):
    """Logits for the rows ``ids`` of a Linear head, scattered into a full-size row of -inf.

    ``int8``: the rows are held as per-row int8 (a quarter of float32's memory and of the
    bytes read per token) and the RESCORED best logits of each position are recomputed
    exactly from the head's own float rows, so the top of the distribution, all that
    greedy decoding and top-k / top-p sampling look at, is the float32 one; the rest is
    within int8 rounding (~0.07 on logits of spread ~1.3 for the bundled model).
    ``read_rows``: where to read the float rows for quantising (assistant.runtime.cpu.file_rows: the
    model's file, without mapping its pages), else the head's weight itself.
    """

    def __init__(self, head: torch.nn.Linear, ids: list[int], int8: bool = False,
                 read_rows: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        index = torch.tensor(ids, dtype=torch.long, device=head.weight.device)
        self.register_buffer("ids", index, persistent=False)
        self.vocab_size = head.weight.shape[0]
        self.int8 = int8
        if int8:
            # The full matrix stays with the model (the input embedding when tied): read, not copied.
            rows = self._float_rows = head.weight.detach()
            bias = self._float_bias = None if head.bias is None else head.bias.detach()
            self._packed = pack_int8_rows(read_rows or (lambda ids: rows[ids].float()), index,
                                          rows.shape[1], None if bias is None else bias[index])
            return
        # A copy, not a view: with tied weights the full matrix stays the input embedding.
        self.weight = torch.nn.Parameter(head.weight.detach()[index].clone(), requires_grad=False)
        self.bias = (torch.nn.Parameter(head.bias.detach()[index].clone(), requires_grad=False)
                     if head.bias is not None else None)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        partial = self._rescored(hidden) if self.int8 else \
            torch.nn.functional.linear(hidden, self.weight, self.bias)
        full = partial.new_full((*partial.shape[:-1], self.vocab_size), float("-inf"))
        return full.index_copy_(-1, self.ids, partial)

    def _rescored(self, hidden: torch.Tensor) -> torch.Tensor:
        flat = hidden.reshape(-1, hidden.shape[-1]).float()
        logits = int8_matmul(flat, self._packed)
        top = logits.topk(min(RESCORED, logits.shape[-1]), dim=-1).indices
        for start in range(0, flat.shape[0], _ROWS_AT_ONCE):
            rows = slice(start, start + _ROWS_AT_ONCE)
            chosen = self.ids[top[rows]]  # (positions, RESCORED) vocabulary ids
            exact = torch.einsum("pkh,ph->pk", self._float_rows[chosen], flat[rows])
            if self._float_bias is not None:
                exact = exact + self._float_bias[chosen]
            logits[rows].scatter_(-1, top[rows], exact)
        return logits.view(*hidden.shape[:-1], -1).to(hidden.dtype)

