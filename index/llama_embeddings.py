"""An embedder on llama.cpp: an e5 GGUF (index.e5_gguf) through llama-cpp-python.

It has index.embeddings.Embedder's interface (name, path, dim, max_tokens,
count_tokens, embed_passages, embed_queries), so ingest, search and the
grounding check use it unchanged.  Its prompts come from the GGUF's
``lira.prompt.*`` keys.  A text longer than the model's 512 positions is cut to
its first 510 tokens and closed with ``</s>``, as sentence-transformers
truncates, so no input ever reaches past the position table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.e5_gguf import PROMPT_KEY
from index.embeddings import PrefixedEmbedder
from index.errors import EmbedderError
from index.llama_binding import cpu_threads, llama_available, looks_like_gguf, one_line, quiet_plain_load

INSTALL_HINT = "pip install llama-cpp-python"
BATCH_TOKENS = 512  # llama.cpp's batch: room for one text of e5's 512 positions
# Texts go to llama.cpp in groups of about this many characters: every text in a batch
# attends over the whole batch (masked), so long chunks go alone and short queries share
GROUP_CHARS = 600
SPECIALS = 2  # <s> and </s>


def llama_embeddings_available() -> bool:
    """Whether the llama.cpp binding (llama-cpp-python) is installed."""
    return llama_available()


class LlamaEmbedder(PrefixedEmbedder):
    """Embeds queries and passages into L2-normalised float32 vectors on llama.cpp."""

    def __init__(self, path: Path, name: str, threads: int | None = None,
                 batch_tokens: int = BATCH_TOKENS):
        if not llama_embeddings_available():
            raise EmbedderError(f"embedder '{name}' runs on llama.cpp, which is not "
                                f"installed: {INSTALL_HINT}, or pick another embedder")
        self.name = name
        self.path = Path(path)
        self.llama = _load(self.path, threads or cpu_threads(), batch_tokens)
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
                                f"({one_line(exc)}); use embedder_engine = "
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

    if not looks_like_gguf(path):
        raise EmbedderError(f"{path} is not a GGUF file: convert the embedder again "
                            "(lira models --prepare)")
    try:
        with quiet_plain_load():
            llama = llama_cpp.Llama(model_path=str(path), embedding=True,
                                    pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                                    n_ctx=batch_tokens, n_batch=batch_tokens,
                                    n_ubatch=batch_tokens, n_threads=threads,
                                    n_threads_batch=threads, verbose=False,
                                    # 1.5-2x faster on a CPU: no n x n score matrix
                                    flash_attn=True)
    except (ValueError, RuntimeError, OSError) as exc:
        raise EmbedderError(f"llama.cpp could not load {path} ({one_line(exc)}): convert "
                            "the embedder again (lira models --prepare)") from None
    if llama.metadata.get("general.architecture") != "bert":
        raise EmbedderError(f"{path} is not a BERT embedder GGUF; convert one with "
                            "index.e5_gguf")
    return llama
