"""Decoding presets: the settings of each kind of output (answer, chat, poem).

Below both generation (which runs them) and decode_loop (which applies them);
the keys of PRESETS are generation profiles, not the chat app's modes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from adapters.poem_template import END_OF_POEM


@dataclass(frozen=True)
class Preset:
    """Decoding settings for one kind of output."""

    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    stop: tuple[str, ...] = ()
    num_beams: int = 1  # > 1: beam search (transformers' generate; the text comes at the end)

    def with_overrides(self, **changes: Any) -> Preset:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


PRESETS: dict[str, Preset] = {
    # Greedy, so answers are reproducible and stick to the passages.
    "answer": Preset(max_new_tokens=256, repetition_penalty=1.1,
                     stop=("\nВопрос:", "\n###", "\n\n\n")),
    "chat": Preset(max_new_tokens=256, repetition_penalty=1.1, stop=("\nПользователь:", "\n###")),
    # Sampling, as in the poetry seed; the end-of-poem marker stops a poem.
    "poem": Preset(max_new_tokens=400, do_sample=True, temperature=0.9, top_k=50, top_p=0.95,
                   repetition_penalty=1.15, no_repeat_ngram_size=4,
                   stop=(END_OF_POEM, "\n###")),
}
