"""Reading rows of a model's weight from its safetensors files with plain reads.

transformers maps safetensors files into memory, and every page a process
touches through such a mapping counts as its resident memory for as long as
the mapping lives, even when it is read once.  Building the int8 output layer
reads 44k scattered rows of the bundled model's 671 MB tied embedding, and the
kernel's fault-around mapped nearly all of it.  Reading the same rows with
``readinto`` goes through the page cache without mapping anything.  The rows
are used only when the file holds exactly the model's tensor (checked on a few
rows), so a weight an adapter changed is never replaced by the file's.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import torch

_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def row_reader(folder: Path, weight: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A function giving float32 ``weight[index]`` read from ``folder``'s safetensors files,
    or None when no tensor there is exactly ``weight`` (then read the weight itself)."""
    for file in sorted(Path(folder).glob("*.safetensors")):
        for offset, dtype in _candidates(file, tuple(weight.shape)):
            reader = _Rows(file, offset, weight.shape, dtype)
            probe = torch.unique(torch.linspace(0, weight.shape[0] - 1, 5).long())
            try:
                if torch.equal(reader(probe), weight.detach()[probe].float()):
                    return reader
            except OSError:  # a file cut short or unreadable: read the weight itself
                continue
    return None


def _candidates(file: Path, shape: tuple[int, ...]) -> list[tuple[int, torch.dtype]]:
    """(absolute byte offset, dtype) of each tensor of this shape in a safetensors file."""
    try:
        with open(file, "rb") as handle:
            size = struct.unpack("<Q", handle.read(8))[0]
            header = json.loads(handle.read(size))
    except (OSError, ValueError, struct.error):
        return []
    return [(8 + size + entry["data_offsets"][0], _DTYPES[entry["dtype"]])
            for name, entry in header.items()
            if name != "__metadata__" and tuple(entry.get("shape", ())) == shape
            and entry.get("dtype") in _DTYPES]


class _Rows:
    """Rows of one 2-D tensor stored at ``offset`` of ``file``."""

    def __init__(self, file: Path, offset: int, shape: torch.Size, dtype: torch.dtype):
        self.file, self.offset, self.dtype = file, offset, dtype
        self.rows, self.width = shape
        self.row_bytes = self.width * torch.empty((), dtype=dtype).element_size()

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        """float32 rows ``index`` (any order, repeats allowed)."""
        wanted, inverse = torch.unique(index, sorted=True, return_inverse=True)
        rows = torch.empty((len(wanted), self.width), dtype=self.dtype)
        view = memoryview(rows.view(torch.uint8).numpy()).cast("B")
        # One read per run of consecutive rows (the subset's ids come in long runs).
        breaks = (torch.nonzero(wanted.diff() != 1).flatten() + 1).tolist()
        fd = os.open(self.file, os.O_RDONLY)
        try:
            for lo, hi in zip([0] + breaks, breaks + [len(wanted)]):
                self._read(fd, int(wanted[lo]), view[lo * self.row_bytes:hi * self.row_bytes])
        finally:
            os.close(fd)
        return rows[inverse].float()

    def _read(self, fd: int, first_row: int, into: memoryview) -> None:
        done, position = 0, self.offset + first_row * self.row_bytes
        while done < len(into):
            count = os.preadv(fd, [into[done:]], position + done)
            if not count:
                raise OSError(f"{self.file} ends inside a tensor")
            done += count
