"""The FastAPI app: OpenAI's routes over Lira's engine.

Every route that runs models takes a ticket from the bounded queue (429 when
full), waits its turn for the compute thread, and does its model work in
worker threads so the event loop keeps answering /health, refusals and
disconnects meanwhile.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from contextlib import AsyncExitStack

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from assistant.chat.backend import ChatBackend, Reply
from assistant.engine import Engine
from assistant.server.admission import Admission
from assistant.server.api_errors import ApiError, install_handlers
from assistant.server.limits import BodyLimit
from assistant.server.modes import model_list, parse_model
from assistant.server.replies import (
    check_limits,
    conversation,
    reply_extras,
    shown_text,
    start_chat,
    start_completion,
)
from assistant.server.responses import CHAT, TEXT, Envelope, embeddings, whole
from assistant.server.shapes import ChatRequest, CompletionRequest, EmbeddingRequest
from assistant.server.streaming import collect, sse
from assistant.settings import Settings

DEFAULT_WAITING = 4


def bearer_check(api_key: str | None) -> Callable:
    """A dependency requiring ``Authorization: Bearer <api_key>`` (nothing when None)."""
    expected = (api_key or "").encode()

    async def check(request: Request) -> None:
        if api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        # compare_digest: the time taken says nothing about how much of the key matched
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            raise ApiError(401, "missing or wrong API key: send 'Authorization: Bearer KEY'",
                           "invalid_api_key")

    return check


class HeldStream(StreamingResponse):
    """A streamed response that releases its queue place however the stream ends,
    even when the client leaves before the first byte."""

    def __init__(self, content, release: AsyncExitStack):
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache"})
        self.release = release

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.release.aclose()


def create_app(engine: Engine, settings: Settings, waiting: int = DEFAULT_WAITING,
               api_key: str | None = None) -> FastAPI:
    """The app over ``engine``; ``waiting`` requests may queue behind the running one."""
    app = FastAPI(title="Lira", docs_url=None, redoc_url=None, openapi_url=None)
    install_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.serve.max_request_kb * 1024)
    backend = ChatBackend(settings, engine)
    admission = Admission(waiting)
    started = int(time.time())
    auth = [Depends(bearer_check(api_key))]

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "requests": admission.inside, "limit": admission.limit,
                "cancelled": admission.cancelled, "last_new_tokens": admission.last_new_tokens}

    @app.get("/v1/models", dependencies=auth)
    async def models() -> dict:
        return model_list(settings, started)

    async def answer(request: Request, envelope: Envelope, start: Callable[[], Reply],
                     stream: bool):
        ticket = admission.admit()
        held = AsyncExitStack()
        try:
            await held.enter_async_context(ticket.turn())
            if await request.is_disconnected():  # it left while it waited
                raise ApiError(400, "the client disconnected", "client_disconnected")
            reply = await run_in_threadpool(start)
            held.callback(lambda: admission.ended(reply.cancel_event.is_set(),
                                                  reply.stats().new_tokens))
        except BaseException:
            with anyio.CancelScope(shield=True):
                await held.aclose()
            raise

        async def extras(text: str) -> dict:
            return await run_in_threadpool(reply_extras, backend, reply, text)

        if stream:
            return HeldStream(sse(envelope, reply, request, extras), held)
        async with held:
            text = await collect(reply, request)
            return JSONResponse(whole(envelope, reply, shown_text(reply, text),
                                      await extras(text)))

    @app.post("/v1/chat/completions", dependencies=auth)
    async def chat_completions(body: ChatRequest, request: Request):
        choice = parse_model(body.model, settings.index_name)
        check_limits(body, settings, body.new_tokens(), body.k)  # before it queues
        conversation(body.messages)
        return await answer(request, Envelope(body.model, CHAT),
                            lambda: start_chat(backend, choice, body), body.stream)

    @app.post("/v1/completions", dependencies=auth)
    async def completions(body: CompletionRequest, request: Request):
        choice = parse_model(body.model, settings.index_name)
        check_limits(body, settings, body.max_tokens)
        return await answer(request, Envelope(body.model, TEXT),
                            lambda: start_completion(backend, choice, body), body.stream)

    @app.post("/v1/embeddings", dependencies=auth)
    async def embed(body: EmbeddingRequest) -> dict:
        parse_model(body.model, settings.index_name)
        texts = body.texts()
        if not texts or len(texts) > settings.serve.max_inputs:
            raise ApiError(422, f"input must hold 1 to {settings.serve.max_inputs} texts",
                           "invalid_input", "input")
        async with admission.admit().turn():
            vectors, tokens = await run_in_threadpool(embed_texts, engine, texts, body.input_type)
        return embeddings(body.model, vectors, tokens)

    return app


def embed_texts(engine: Engine, texts: list[str], input_type: str) -> tuple[list, int]:
    """The vectors of ``texts`` (as queries or passages) and their token count."""
    embedder = engine.embedder()
    embed = embedder.embed_queries if input_type == "query" else embedder.embed_passages
    return embed(texts).tolist(), sum(embedder.count_tokens(texts))

