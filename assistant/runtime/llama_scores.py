"""Log-probabilities from a model on llama.cpp: what the poem's fluency, its rhyme-word choice
and the answer badge's confidence read from a local model, as they read them from torch.

llama.cpp keeps only the last position's logits unless a context is made for
all of them (a full vocabulary per position: gigabytes at Gemma's 262k tokens),
so a text is scored one token at a time after its prompt; llama.cpp's cache
keeps the prompt, so only the new tokens are run.  Call these on the compute
thread (assistant.runtime.compute), where the model's generation runs too.
"""

from __future__ import annotations

from typing import Any

from assistant.runtime.prompt_cache import common_prefix


def held_prefix(llama: Any, tokens: list[int]) -> int:
    """How many of ``tokens`` llama.cpp already holds in its cache from the previous run."""
    return common_prefix(llama._input_ids[:llama.n_tokens].tolist(), tokens)  # noqa: SLF001


def encode(loaded: Any, text: str, prompt: bool = True) -> list[int]:
    """Token ids of ``text``: a prompt with the model's BOS and special tokens read, else
    plain text as a continuation."""
    return loaded.llama.tokenize(text.encode("utf-8"), add_bos=prompt, special=prompt)


def decode(loaded: Any, ids: list[int]) -> str:
    """The text of token ids."""
    return loaded.llama.detokenize(ids).decode("utf-8", errors="replace")


def pieces(loaded: Any) -> list[str]:
    """Every token's piece as the vocabulary spells it (with its word-start mark)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(loaded.llama.model)
    return [llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8", errors="replace")
            for token in range(loaded.llama.n_vocab())]


def next_logprobs(loaded: Any, ids: list[int]):
    """The next token's log-probabilities after ``ids`` (a numpy vector over the vocabulary);
    only what llama.cpp does not already hold is run."""
    import llama_cpp
    import numpy as np

    llama = loaded.llama
    shared = max(0, min(held_prefix(llama, ids), len(ids) - 1))  # the last runs again for its logits
    llama.n_tokens = shared
    llama.eval(ids[shared:])
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama.ctx, -1),
                                   shape=(llama.n_vocab(),)).astype(np.float64)
    top = logits.max()
    return (logits - top - np.log(np.exp(logits - top).sum())).astype(np.float32)


def mean_logprob(loaded: Any, prompt: str, text: str) -> float | None:
    """The mean log-probability per token of ``text`` after ``prompt``; None without tokens."""
    target = encode(loaded, text, prompt=False)
    if not target:
        return None
    ids, total = encode(loaded, prompt), 0.0
    for token in target:
        total += float(next_logprobs(loaded, ids)[token])
        ids = ids + [token]
    return total / len(target)
