"""The embedder: a sentence-transformers model with query/passage prompts.

e5-style models want ``query: `` and ``passage: `` prefixes; they are taken
from the model folder's own prompts when it has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.errors import EmbedderError


class PrefixedEmbedder:
    """What every embedder shares: passages and queries are embedded with their prefixes
    (e5's "passage: " and "query: ", or none); a subclass sets them and ``_encode``."""

    query_prefix = ""
    passage_prefix = ""

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for documents to be stored."""
        return self._encode([self.passage_prefix + t for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for search queries."""
        return self._encode([self.query_prefix + t for t in texts])

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


class Embedder(PrefixedEmbedder):
    """Embeds queries and passages into L2-normalised float32 vectors."""

    def __init__(self, path: Path, name: str, device: str = "cpu", batch_size: int = 32):
        from sentence_transformers import SentenceTransformer

        try:
            self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        except Exception as exc:  # sentence-transformers raises many kinds
            raise EmbedderError(f"cannot load embedder '{name}' from {path}: {exc}; "
                                "run `lira models --prepare` or pick another embedder") from exc
        self.name = name
        self.path = Path(path)
        self.batch_size = batch_size
        self.dim = int(self.model.get_embedding_dimension())
        prompts = getattr(self.model, "prompts", {}) or {}
        self.query_prefix = prompts.get("query", "")
        self.passage_prefix = prompts.get("passage", "")

    @property
    def max_tokens(self) -> int:
        """Longest input, in tokens, that the model reads without truncating."""
        return int(self.model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts without special tokens or prefixes."""
        if not texts:
            return []
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)

