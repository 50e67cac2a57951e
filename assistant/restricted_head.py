"""An output layer that computes logits for a subset of the vocabulary only (see vocab_subset)."""

from __future__ import annotations

from collections.abc import Callable

import torch

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
    ``read_rows``: where to read the float rows for quantising (assistant.file_rows: the
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
            self._float_rows = head.weight.detach()
            self._float_bias = None if head.bias is None else head.bias.detach()
            weight = head.weight.detach()
            self._packed = _pack_int8(read_rows or (lambda rows: weight[rows].float()),
                                      index, weight.shape[1], head.bias)
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
        logits = torch.ops.quantized.linear_dynamic(flat, self._packed, False)  # 8-bit, not 7
        top = logits.topk(min(RESCORED, logits.shape[-1]), dim=-1).indices
        for start in range(0, flat.shape[0], _ROWS_AT_ONCE):
            rows = slice(start, start + _ROWS_AT_ONCE)
            chosen = self.ids[top[rows]]  # (positions, RESCORED) vocabulary ids
            exact = torch.einsum("pkh,ph->pk", self._float_rows[chosen], flat[rows])
            if self._float_bias is not None:
                exact = exact + self._float_bias[chosen]
            logits[rows].scatter_(-1, top[rows], exact)
        return logits.view(*hidden.shape[:-1], -1).to(hidden.dtype)


def _pack_int8(read_rows: Callable[[torch.Tensor], torch.Tensor], index: torch.Tensor,
               width: int, bias: torch.Tensor | None):
    """fbgemm's packed per-row int8 form of the rows ``index``, quantised a block of rows at
    a time into one int8 matrix (so the float rows are never all copied at once: on the
    bundled model a whole-matrix version raised the load's peak memory by 250 MB)."""
    import warnings

    values = torch.empty((len(index), width), dtype=torch.int8)
    scale = torch.empty(len(index), dtype=torch.float64)
    for start in range(0, len(index), 1024):
        rows = read_rows(index[start:start + 1024])
        block_scale = rows.abs().amax(dim=1).clamp(min=1e-8) / 127
        rows.div_(block_scale[:, None]).round_().clamp_(-127, 127)
        values[start:start + len(rows)] = rows
        scale[start:start + len(rows)] = block_scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates the quantised tensor API, not its kernels
        quantised = torch._make_per_channel_quantized_tensor(
            values, scale, torch.zeros_like(scale, dtype=torch.long), 0)
        del values
        return torch.ops.quantized.linear_prepack(
            quantised, None if bias is None else bias.detach()[index].float())
