"""The bodies of OpenAI's responses: chat completions, text completions, their stream
chunks, and embeddings.  Lira's extra fields ride along at the top level, where
ordinary clients ignore them."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from assistant.chat.backend import Reply

CHAT, CHUNK, TEXT = "chat.completion", "chat.completion.chunk", "text_completion"


@dataclass
class Envelope:
    """What every body and chunk of one response shares."""

    model: str
    kind: str  # CHAT or TEXT
    id: str = field(default_factory=lambda: f"lira-{uuid.uuid4().hex[:24]}")
    created: int = field(default_factory=lambda: int(time.time()))

    def body(self, choice: dict, chunk: bool = False, **extra) -> dict:
        kind = CHUNK if chunk and self.kind == CHAT else self.kind
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model,
                "choices": [{"index": 0, **choice}], **extra}


def finish_reason(reply: Reply) -> str:
    """"length" when max_tokens ended the text, else "stop" (a stop string, the end, a cancel)."""
    stats = getattr(reply.stream, "stats", None)
    return "length" if stats is not None and stats.stopped_by == "max tokens" else "stop"


def usage(reply: Reply) -> dict:
    stats = reply.stats()
    return {"prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.new_tokens,
            "total_tokens": stats.prompt_tokens + stats.new_tokens}


def whole(envelope: Envelope, reply: Reply, text: str, extras: dict) -> dict:
    """The non-streamed body of a finished reply."""
    reason = finish_reason(reply)
    if envelope.kind == CHAT:
        choice = {"message": {"role": "assistant", "content": text}, "finish_reason": reason}
    else:
        choice = {"text": text, "logprobs": None, "finish_reason": reason}
    return envelope.body(choice, usage=usage(reply), **extras)


def piece_chunk(envelope: Envelope, piece: str, first: bool = False) -> dict:
    """A stream chunk carrying new text (the first chat chunk names the role too)."""
    if envelope.kind == CHAT:
        delta = {"role": "assistant", "content": piece} if first else {"content": piece}
        return envelope.body({"delta": delta, "finish_reason": None}, chunk=True)
    return envelope.body({"text": piece, "logprobs": None, "finish_reason": None}, chunk=True)


def last_chunk(envelope: Envelope, reply: Reply, extras: dict) -> dict:
    """The closing chunk: the finish reason, the usage and Lira's fields."""
    if envelope.kind == CHAT:
        choice = {"delta": {}, "finish_reason": finish_reason(reply)}
    else:
        choice = {"text": "", "logprobs": None, "finish_reason": finish_reason(reply)}
    return envelope.body(choice, chunk=True, usage=usage(reply), **extras)


def embeddings(model: str, vectors: list[list[float]], tokens: int) -> dict:
    return {"object": "list", "model": model,
            "data": [{"object": "embedding", "index": i, "embedding": v}
                     for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
