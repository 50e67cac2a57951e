"""An embedder on an OpenAI-compatible server (``/v1/embeddings``: TEI, vLLM, ollama).

It has index.embeddings.Embedder's interface, so ingest, search and the grounding
check use it unchanged; the index records its name ("openai:MODEL") and refuses
another embedder as it does for local ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.embeddings import PrefixedEmbedder
from index.errors import EmbedderError
from index.remote_api import (
    api_failure,
    estimate_tokens,
    make_client,
    not_json,
    remote_model,
    setting_hint,
)

BATCH = 64  # texts per request: far below every server's limit, few round trips
MAX_TOKENS = 512  # e5, bge and most embedders served read 512 tokens
SETTING = setting_hint("embedder_base_url", "LIRA_EMBEDDER_BASE_URL")


class RemoteEmbedder(PrefixedEmbedder):
    """Embeds through a server's /v1/embeddings into L2-normalised float32 vectors.

    e5 models want "query: " and "passage: " prefixes; they are added when the
    server's model name contains "e5", as the local embedder takes them from the
    model folder.  The dimension is learnt from a first request, which also
    checks that the server answers.
    """

    def __init__(self, reference: str, base_url: str, api_key: str | None = None,
                 max_retries: int = 3):
        self.name = reference
        self.model = remote_model(reference)
        self.base_url = base_url.rstrip("/")
        self.path = Path(self.base_url)  # where it comes from, as the local one's folder
        self.client = make_client(self.base_url, api_key, max_retries)
        e5 = "e5" in self.model.lower()
        self.query_prefix, self.passage_prefix = ("query: ", "passage: ") if e5 else ("", "")
        self.dim = int(self._request(["dim"]).shape[1])

    @property
    def max_tokens(self) -> int:
        return MAX_TOKENS

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Estimated token counts (index.remote_api.estimate_tokens)."""
        return [estimate_tokens(t) for t in texts]

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._request(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)]
        vectors = np.concatenate(parts)
        if vectors.shape[1] != self.dim:
            raise EmbedderError(f"the server at {self.base_url} changed the embedding size "
                                f"from {self.dim} to {vectors.shape[1]}: check its model")
        return vectors

    def _request(self, texts: list[str]) -> np.ndarray:
        """One request's vectors, in the order of ``texts``, normalised."""
        try:
            response = self.client.embeddings.create(model=self.model, input=texts,
                                                     encoding_format="float")
            rows = sorted(response.data, key=lambda item: item.index)
            vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
        except Exception as exc:  # openai's errors, or a body of the wrong shape
            raise EmbedderError(self._failure(exc)) from exc
        if vectors.ndim != 2 or len(vectors) != len(texts) or vectors.shape[1] == 0:
            raise EmbedderError(not_json(self.base_url, SETTING))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12))

    def _failure(self, exc: Exception) -> str:
        line = api_failure(exc, self.base_url, self.model, SETTING)
        if line is None:  # a body that parsed but is not an embeddings list
            line = not_json(self.base_url, SETTING)
        return f"embedder {self.name}: {line}"
