"""An embedder on llama.cpp: an e5 GGUF (index.e5_gguf) through llama-cpp-python.

It has index.embeddings.Embedder's interface (name, path, dim, max_tokens,
count_tokens, embed_passages, embed_queries), so ingest, search and the
grounding check use it unchanged.  Its prompts come from the GGUF's
``lira.prompt.*`` keys.  A text longer than the model's 512 positions is cut to
its first 510 tokens and closed with ``</s>``, as sentence-transformers
truncates, so no input ever reaches past the position table.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.e5_gguf import PROMPT_KEY
from index.embeddings import PrefixedEmbedder
from index.errors import EmbedderError

INSTALL_HINT = "pip install llama-cpp-python"
BATCH_TOKENS = 512  # llama.cpp's batch: room for one text of e5's 512 positions
# Texts go to llama.cpp in groups of about this many characters: every text in a batch
# attends over the whole batch (masked), so long chunks go alone and short queries share
GROUP_CHARS = 600
SPECIALS = 2  # <s> and </s>
MIN_GGUF_BYTES = 32


def llama_embeddings_available() -> bool:
    """Whether the llama.cpp binding (llama-cpp-python) is installed."""
    return importlib.util.find_spec("llama_cpp") is not None


class LlamaEmbedder(PrefixedEmbedder):
    """Embeds queries and passages into L2-normalised float32 vectors on llama.cpp."""

    def __init__(self, path: Path, name: str, threads: int | None = None,
                 batch_tokens: int = BATCH_TOKENS):
        if not llama_embeddings_available():
            raise EmbedderError(f"embedder '{name}' runs on llama.cpp, which is not "
                                f"installed: {INSTALL_HINT}, or pick another embedder")
        self.name = name
        self.path = Path(path)
        self.llama = _load(self.path, threads or _threads(), batch_tokens)
        self.dim = int(self.llama.n_embd())
        self._positions = int(self.llama._model.n_ctx_train())  # noqa: SLF001 - no public getter
        metadata = self.llama.metadata
        self.query_prefix = metadata.get(PROMPT_KEY + "query", "")
        self.passage_prefix = metadata.get(PROMPT_KEY + "passage", "")

    @property
    def max_tokens(self) -> int:
        """Longest input, in tokens with <s> and </s>, that the model reads without cutting."""
        return self._positions

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts without special tokens or prefixes."""
        return [len(self._tokens(t)) for t in texts]

    def _tokens(self, text: str) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            vectors = [v for group in _groups([self._fit(t) for t in texts])
                       for v in self.llama.embed(group, normalize=True, truncate=False)]
        except (ValueError, RuntimeError) as exc:
            raise EmbedderError(f"llama.cpp could not embed with {self.path.name} "
                                f"({_one_line(exc)}); use embedder_engine = "
                                "\"sentence-transformers\"") from exc
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _fit(self, text: str) -> str:
        """``text`` cut to the tokens the position table holds (most texts are far shorter:
        a token covers at least one character, so only long ones are tokenized here)."""
        limit = self._positions - SPECIALS
        if len(text) <= limit:
            return text
        original = self._tokens(text)
        keep, ids = limit, original
        while len(ids) > limit:
            # detokenized pieces can re-tokenize a little differently: cut until they fit
            text = self.llama.detokenize(original[:keep]).decode("utf-8", errors="ignore")
            ids = self._tokens(text)
            keep -= max(1, len(ids) - limit)
        return text


def _groups(texts: list[str]) -> Iterator[list[str]]:
    group: list[str] = []
    size = 0
    for text in texts:
        if group and size + len(text) > GROUP_CHARS:
            yield group
            group, size = [], 0
        group.append(text)
        size += len(text)
    if group:
        yield group


def _load(path: Path, threads: int, batch_tokens: int) -> Any:
    import llama_cpp

    if not _looks_like_gguf(path):
        raise EmbedderError(f"{path} is not a GGUF file: convert the embedder again "
                            "(lira models --prepare)")
    try:
        with _plain_cpu_load():
            llama = llama_cpp.Llama(model_path=str(path), embedding=True,
                                    pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                                    n_ctx=batch_tokens, n_batch=batch_tokens,
                                    n_ubatch=batch_tokens, n_threads=threads,
                                    n_threads_batch=threads, verbose=False,
                                    # 1.5-2x faster on a CPU: no n x n score matrix
                                    flash_attn=True)
    except (ValueError, RuntimeError, OSError) as exc:
        raise EmbedderError(f"llama.cpp could not load {path} ({_one_line(exc)}): convert "
                            "the embedder again (lira models --prepare)") from None
    if llama.metadata.get("general.architecture") != "bert":
        raise EmbedderError(f"{path} is not a BERT embedder GGUF; convert one with "
                            "index.e5_gguf")
    return llama


@contextlib.contextmanager
def _plain_cpu_load() -> Iterator[None]:
    """Load weights into plain CPU buffers and keep llama.cpp's log quiet.

    The same guard as assistant.runtime.llama_engine's (index/ cannot import it): on a
    CPU with AMX, llama.cpp repacks quantized weights into "extra" buffer types, and
    the generator crashed on them (llama-cpp-python 0.3.36); the binding has no
    argument for ``use_extra_bufts``, so its default parameters are wrapped.
    """
    from llama_cpp import llama as binding

    default = binding.llama_cpp.llama_model_default_params

    def plain():
        params = default()
        params.use_extra_bufts = False
        return params

    binding.llama_cpp.llama_model_default_params = plain
    logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL + 10)
    try:
        yield
    finally:
        binding.llama_cpp.llama_model_default_params = default


def _looks_like_gguf(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size < MIN_GGUF_BYTES:
        return False
    with path.open("rb") as file:
        return file.read(4) == b"GGUF"


def _threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
