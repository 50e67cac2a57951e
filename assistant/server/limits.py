"""The request body limit: an ASGI middleware that reads at most ``limit`` bytes of a
body (whatever Content-Length claims) before the app sees it, else answers 413."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.server.api_errors import error_body


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            return await self.too_large(scope, receive, send)
        body, more = b"", True
        while more:  # read here, bounded, and replayed below: the count cannot be bypassed
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await self.too_large(scope, receive, send)
        await self.app(scope, replay(body, receive), send)

    async def too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = error_body(413, f"the request body is over {self.limit // 1024} KiB "
                               "(the serve.max_request_kb setting)", "request_too_large")
        await JSONResponse(body, status_code=413)(scope, receive, send)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives ``body`` first, then what the client sends (a disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again
