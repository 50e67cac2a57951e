"""A key/value cache that grows in place instead of copying itself every token.

transformers' DynamicLayer appends each new token with ``torch.cat``, which
copies the whole cache of every layer at every decode step: with a 1,000-token
prompt on the bundled model that is 36 MB of copying per token, a sixth of a
fast step.  These layers write into a buffer with spare room (grown by a
quarter when full) and hand attention a view of the filled part.  Imported only where
transformers already is (it subclasses its cache classes).
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

# Room for at least this many more tokens (a chat answer's worth) is made whenever a buffer
# is (re)allocated, and for a quarter more than is held, so regrowing stays rare.
SPARE_TOKENS = 256


class GrowingLayer(DynamicLayer):
    """A full-attention cache layer backed by a buffer with spare capacity."""

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._key_buffer = self._value_buffer = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor,
               *args, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        held, new = self.get_seq_length(), key_states.shape[-2]
        if not self._owns_views() or held + new > self._key_buffer.shape[-2]:
            self._reallocate(held + new, key_states, value_states)
        self._key_buffer[..., held:held + new, :] = key_states
        self._value_buffer[..., held:held + new, :] = value_states
        # crop() and the batch methods of DynamicLayer keep working on these views.
        self.keys = self._key_buffer[..., :held + new, :]
        self.values = self._value_buffer[..., :held + new, :]
        return self.keys, self.values

    def reset(self) -> None:
        self._key_buffer = self._value_buffer = None
        super().reset()

    def _owns_views(self) -> bool:
        # After batch_repeat_interleave or a crop to nothing, keys are no longer our views.
        return (self._key_buffer is not None and self.keys.numel() > 0
                and self.keys.data_ptr() == self._key_buffer.data_ptr()
                and self.values.data_ptr() == self._value_buffer.data_ptr())

    def _reallocate(self, needed: int, key_states: torch.Tensor,
                    value_states: torch.Tensor) -> None:
        capacity = needed + max(SPARE_TOKENS, needed // 4)
        held = self.get_seq_length()
        buffers = []
        for old, new in ((self.keys, key_states), (self.values, value_states)):
            shape = (*new.shape[:-2], capacity, new.shape[-1])
            buffer = torch.empty(shape, dtype=new.dtype, device=new.device)
            if held:
                buffer[..., :held, :] = old
            buffers.append(buffer)
        self._key_buffer, self._value_buffer = buffers


class GrowingCache(DynamicCache):
    """A DynamicCache of GrowingLayers (full attention on every layer, so it can be cut back)."""

    def __init__(self) -> None:
        Cache.__init__(self, layer_class_to_replicate=GrowingLayer, offloading=False)
