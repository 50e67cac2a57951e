"""A line's last word chosen to keep the form: the model's likeliest whole words after the
line's beginning, those that rhyme and scan, sampled by the model's probability.

Sampling whole lines until one rhymes wastes most samples: few random line
endings rhyme with a given word.  Instead the line's beginning (all but its
last word) is kept and the model's next-token distribution after it is read
once (one forward pass over the new tokens: the generator's prompt cache
holds the rest); its TOP_TOKENS most likely tokens that begin a new word of
Cyrillic letters are stressed together and judged in the line.  Local
models only: a server gives no distribution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.runtime import compute

TOP_TOKENS = 400
_WORD_START = ("▁", "Ġ", " ")  # SentencePiece, byte-level BPE, plain
_CYRILLIC_WORD = re.compile(r"^[а-яё]{2,}$")
_LAST_WORD = re.compile(r"^(.*?)\s*([^\W\d_]+)([^\w]*)$")


@dataclass(frozen=True)
class TailWord:
    """A candidate last word and the model's log-probability of its token."""

    word: str
    logprob: float


def can_choose_tails(generator) -> bool:
    """Whether the generator's model is here to read distributions from (not a server,
    not seq2seq)."""
    loaded = generator.loaded
    return loaded.model is not None and not loaded.is_seq2seq


def split_last_word(line: str) -> tuple[str, str, str] | None:
    """(beginning, last word, trailing punctuation) of a line of two words or more."""
    match = _LAST_WORD.match(line.rstrip())
    if not match or not match.group(1).strip():
        return None
    return match.group(1).rstrip(), match.group(2), match.group(3)


def next_words(generator, prompt: str, top: int = TOP_TOKENS) -> list[TailWord]:
    """The likeliest whole Cyrillic words (single tokens) the model would write after
    ``prompt``, most likely first."""
    return compute.run(_next_words, generator, prompt, top)


def _next_words(generator, prompt: str, top: int) -> list[TailWord]:
    import torch

    from assistant.runtime.growing_cache import GrowingCache

    loaded = generator.loaded
    ids = loaded.tokenizer(prompt, return_tensors="pt")["input_ids"].to(loaded.model.device)
    cache, shared = GrowingCache(), 0
    if generator.prompt_cache is not None:
        cache, shared = generator.prompt_cache.take(ids[0].tolist())
    try:
        with torch.inference_mode():
            output = loaded.model(input_ids=ids[:, shared:], cache=cache, use_cache=True,
                                  logits_to_keep=1)
    except BaseException:
        if generator.prompt_cache is not None:
            generator.prompt_cache.clear()
        raise
    if generator.prompt_cache is not None:
        generator.prompt_cache.remember(ids[0].tolist())
    logprobs = torch.log_softmax(output.logits[0, -1].float(), dim=-1)
    values, indexes = torch.topk(logprobs, min(top, logprobs.shape[0]))
    pieces = loaded.tokenizer.convert_ids_to_tokens(indexes.tolist())
    words, seen = [], set()
    for value, index, piece in zip(values.tolist(), indexes.tolist(), pieces):
        if value == float("-inf") or not isinstance(piece, str) or not piece.startswith(_WORD_START):
            continue
        word = loaded.tokenizer.decode([index]).strip().lower()
        if _CYRILLIC_WORD.match(word) and word not in seen:
            seen.add(word)
            words.append(TailWord(word, value))
    return words
