"""A line's last word chosen to keep the form: the model's likeliest words after the line's
beginning that could rhyme with the partner line, sampled by the model's probability.

Sampling whole lines until one rhymes wastes most samples: few random line
endings rhyme with a given word.  Instead the line's beginning (all but its
last word) is kept and the model's next-token distribution after it is read
(one forward pass over the new tokens: the generator's prompt cache holds the
rest): every token of the vocabulary that is a whole Cyrillic word, however
unlikely, and, for the FRAGMENTS likeliest word beginnings, their likeliest
continuations (one more pass each), since a Russian word is often two tokens.
A cheap letter test keeps the candidates that may rhyme, the CANDIDATES
likeliest of them go on to the stress model and the judge.  Local models only: a server gives no distribution.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from assistant.poetry.constrained_rhymes import RhymeLexicon
from assistant.runtime import compute, llama_scores

TOP_TOKENS = 400
CANDIDATES = 60  # the likeliest that may rhyme go to the stress model
MIN_LETTERS = 3
FRAGMENTS = 6  # word beginnings whose continuations are read too: Russian words are often two tokens
_WORD_START = ("▁", "Ġ", " ")  # SentencePiece, byte-level BPE, plain
_CYRILLIC = re.compile(r"^[а-яё]+$")
_LAST_WORD = re.compile(r"^(.*?)\s*([^\W\d_]+)([\W\d_]*)$")  # numbers after it go too


@dataclass(frozen=True)
class TailWord:
    """A candidate last word and the model's log-probability of its token."""

    word: str
    logprob: float


def can_choose_tails(generator) -> bool:
    """Whether the generator's model is here to read distributions from (not a server,
    not seq2seq)."""
    loaded = generator.loaded
    local = loaded.model is not None or getattr(loaded, "llama", None) is not None
    return local and not loaded.is_seq2seq


def rhyme_lexicon(generator) -> RhymeLexicon | None:
    """The rhymes the generator's model can write as whole-word tokens (one per model);
    None where there is no vocabulary to read (a server)."""
    if not can_choose_tails(generator):
        return None
    vocabulary = _Vocabulary.of(generator)
    if vocabulary.rhymes is None:
        vocabulary.rhymes = RhymeLexicon(word for _, word in vocabulary.lexicon())
    return vocabulary.rhymes


def split_last_word(line: str) -> tuple[str, str, str] | None:
    """(beginning, last word, trailing punctuation) of a line of two words or more."""
    match = _LAST_WORD.match(line.rstrip())
    if not match or not match.group(1).strip():
        return None
    return match.group(1).rstrip(), match.group(2), match.group(3)


def may_rhyme(word: str, partners: list[str], letters: int = 2) -> bool:
    """A cheap first test before the stress model: ``word`` ends in the same ``letters``
    letters as a partner word (ё as е) and is not that word."""
    word = word.replace("ё", "е")
    return any(word != p and word[-letters:] == p.replace("ё", "е")[-letters:]
               for p in partners)


def next_words(generator, prompt: str, keep: Callable[[str], bool],
               top: int = TOP_TOKENS, fragments: int = FRAGMENTS) -> list[TailWord]:
    """The words ``keep`` accepts among the model's likeliest next words after ``prompt``:
    single tokens that begin a word of Cyrillic letters, and two-token words (the
    ``fragments`` likeliest word beginnings, each with its likeliest continuations);
    most likely first."""
    return compute.run(_next_words, generator, prompt, keep, top, fragments)


def _next_words(generator, prompt: str, keep: Callable[[str], bool], top: int,
                fragments: int) -> list[TailWord]:
    vocabulary = _Vocabulary.of(generator)
    ids = vocabulary.encode(prompt)
    logprobs = _logprobs(generator, ids)
    found: dict[str, float] = {}
    for token, word in vocabulary.lexicon():  # every whole-word token, however unlikely
        if keep(word):
            value = float(logprobs[token])
            if value != float("-inf"):
                found.setdefault(word, value)
    beginnings = []
    for logprob, token, piece in vocabulary.top(logprobs, top):
        word = vocabulary.decode([token]).strip().lower()
        if piece.startswith(_WORD_START) and _CYRILLIC.match(word):
            beginnings.append((word, token, logprob))
        if len(beginnings) == fragments:
            break
    for start, token, logprob in beginnings:
        after = _logprobs(generator, ids + [token])
        for more, next_token, piece in vocabulary.top(after, top // 2):
            rest = vocabulary.decode([next_token]).strip().lower()
            if piece.startswith(_WORD_START) or not _CYRILLIC.match(rest):
                continue  # a new word or no letters: not the rest of this one
            if keep(start + rest):
                found.setdefault(start + rest, logprob + more)
    ranked = sorted(found.items(), key=lambda item: item[1], reverse=True)
    return [TailWord(word, logprob) for word, logprob in ranked[:CANDIDATES]]


class _Vocabulary:
    """A model's tokens as the tail choice reads them, from transformers' tokenizer or from
    llama.cpp's vocabulary; the pieces and whole-word lexicon are built once per model."""

    _known: dict[int, _Vocabulary] = {}

    def __init__(self, loaded):
        self.loaded = loaded
        self.llama = getattr(loaded, "llama", None)
        self._pieces: list[str] | None = None
        self._lexicon: list[tuple[int, str]] | None = None
        self.rhymes: RhymeLexicon | None = None

    @classmethod
    def of(cls, generator) -> _Vocabulary:
        loaded = generator.loaded
        key = id(loaded.llama if getattr(loaded, "llama", None) is not None else loaded.tokenizer)
        if key not in cls._known:
            cls._known[key] = cls(loaded)
        return cls._known[key]

    def encode(self, text: str) -> list[int]:
        if self.llama is not None:
            return llama_scores.encode(self.loaded, text)
        return self.loaded.tokenizer(text)["input_ids"]

    def decode(self, ids: list[int]) -> str:
        if self.llama is not None:
            return llama_scores.decode(self.loaded, ids)
        return self.loaded.tokenizer.decode(ids)

    def pieces(self) -> list[str]:
        if self._pieces is None:
            if self.llama is not None:
                self._pieces = llama_scores.pieces(self.loaded)
            else:
                tokenizer = self.loaded.tokenizer
                self._pieces = [p if isinstance(p, str) else "" for p in
                                tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))]
        return self._pieces

    def lexicon(self) -> list[tuple[int, str]]:
        """(token, word) for every token of the vocabulary that is a whole Cyrillic word of
        at least MIN_LETTERS letters after a word boundary."""
        if self._lexicon is None:
            words = []
            for token, piece in enumerate(self.pieces()):
                if piece.startswith(_WORD_START):
                    word = piece[1:].lower()
                    if len(word) >= MIN_LETTERS and _CYRILLIC.match(word):
                        words.append((token, word))
            self._lexicon = words
        return self._lexicon

    def top(self, logprobs, top: int) -> list[tuple[float, int, str]]:
        """(log-probability, token, piece) of the ``top`` likeliest tokens, likeliest first."""
        import numpy as np

        values = np.asarray(logprobs)
        top = min(top, values.shape[0])
        indexes = np.argpartition(-values, top - 1)[:top]
        indexes = indexes[np.argsort(-values[indexes], kind="stable")]
        pieces = self.pieces()
        return [(float(values[i]), int(i), pieces[i]) for i in indexes
                if values[i] != float("-inf")]


def _logprobs(generator, ids: list[int]):
    """The next token's log-probabilities after ``ids`` (numpy); the generator's prompt cache
    (llama.cpp's own cache) holds the shared beginning, so only new tokens are run."""
    if getattr(generator.loaded, "llama", None) is not None:
        return llama_scores.next_logprobs(generator.loaded, ids)
    import torch

    from assistant.runtime.growing_cache import GrowingCache

    loaded = generator.loaded
    cache, shared = GrowingCache(), 0
    if generator.prompt_cache is not None:
        cache, shared = generator.prompt_cache.take(ids)
    new = torch.tensor([ids[shared:]], device=loaded.model.device)
    try:
        with torch.inference_mode():
            output = loaded.model(input_ids=new, cache=cache, use_cache=True, logits_to_keep=1)
    except BaseException:
        if generator.prompt_cache is not None:
            generator.prompt_cache.clear()
        raise
    if generator.prompt_cache is not None:
        generator.prompt_cache.remember(ids)
    return torch.log_softmax(output.logits[0, -1].float(), dim=-1).cpu().numpy()
