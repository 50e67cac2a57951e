"""A reply's text read off the event loop, and its server-sent events.

A reply's stream blocks between tokens, so each piece is fetched in a worker
thread.  When the client hangs up (checked between pieces, and by Starlette's
cancellation of a streaming response), the reply is cancelled and its stream
closed before the request leaves the queue: the compute thread is free when
the next request's turn comes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from starlette.requests import Request

from assistant.chat.backend import Reply
from assistant.errors import USER_ERRORS
from assistant.safe_text import one_line
from assistant.server.api_errors import error_body, log
from assistant.server.replies import shown_citations
from assistant.server.responses import Envelope, last_chunk, piece_chunk

DONE = "data: [DONE]\n\n"


async def pieces(reply: Reply, request: Request) -> AsyncIterator[str]:
    """The reply's text pieces; cancels it when the client disconnects."""
    iterator = iter(reply)
    finished = False
    try:
        while (piece := await anyio.to_thread.run_sync(next, iterator, None)) is not None:
            if await request.is_disconnected():
                return
            yield piece
        finished = True
    finally:
        if not finished:  # the client left (or the task was cancelled): stop generating
            reply.cancel()
        with anyio.CancelScope(shield=True):  # the worker must end before the queue moves on
            await anyio.to_thread.run_sync(getattr(iterator, "close", lambda: None))


async def collect(reply: Reply, request: Request) -> str:
    return "".join([piece async for piece in pieces(reply, request)])


def event(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def sse(envelope: Envelope, reply: Reply, request: Request,
              extras: Callable[[str], Awaitable[dict]]) -> AsyncIterator[str]:
    """The events of a streamed reply: text chunks, a closing chunk with Lira's fields
    (``extras`` of the whole text), then [DONE]."""
    text, sent = [], False
    shown = shown_citations(reply)  # [n] in the numbers of the documents the sources list
    try:
        async for piece in pieces(reply, request):
            text.append(piece)
            out = piece if shown is None else shown.feed(piece)
            if out or shown is None:
                yield event(piece_chunk(envelope, out, first=not sent))
                sent = True
        if shown is not None and (rest := shown.close()):
            yield event(piece_chunk(envelope, rest, first=not sent))
        if await request.is_disconnected():
            return
        closing = last_chunk(envelope, reply, await extras("".join(text)))
    except Exception as exc:  # the status is sent: the error goes in the stream, as OpenAI's do
        yield event(stream_error(exc))
        return
    yield event(closing)
    yield DONE


def stream_error(exc: Exception) -> dict:
    """The error object of a failure mid-stream: Lira's own errors say what went wrong;
    a bug is logged with its traceback and reported without it."""
    if isinstance(exc, USER_ERRORS):
        return error_body(400, one_line(str(exc)), "generation_failed")
    log.exception("streamed reply failed")
    return error_body(500, "internal error; see the server's log")
