"""The request models (permissive like OpenAI's: unknown fields are ignored) and the
records of responses.

Lira's own request fields: ``k`` (passages to retrieve in documents mode),
``author`` (the poet of lira-poem) and ``input_type`` ("query" or "passage",
of /v1/embeddings).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Permissive(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(Permissive):
    type: str = "text"
    text: str = ""


class Message(Permissive):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text; of a list of parts, the text parts joined."""
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content if p.type == "text")
        return self.content or ""


class Sampling(Permissive):
    """What chat and text completions share."""

    model: str
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)


class ChatRequest(Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    k: int | None = Field(default=None, ge=1)
    author: str | None = None

    def new_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(Sampling):
    prompt: str | list[str]

    def text(self) -> str:
        """The prompt; of a list, the first (Lira generates one completion per request)."""
        return self.prompt if isinstance(self.prompt, str) else (self.prompt or [""])[0]


class EmbeddingRequest(Permissive):
    model: str
    input: str | list[str]
    input_type: Literal["query", "passage"] = "passage"

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)
