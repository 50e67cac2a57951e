"""A stand-in OpenAI-compatible server on 127.0.0.1 for the remote-model tests.

A real HTTP server (http.server in a thread) that streams real server-sent
events, records every request, and can be told to misbehave: refuse the key,
stall mid-stream, answer HTML, send an event that is not JSON, drip tokens until
the client leaves, take seconds before answering (a long prompt being read) and
then drip, or stream a poem and run on after it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = [{"id": "m", "object": "model", "created": 0, "owned_by": "test", "max_model_len": 2048},
          {"id": "emb", "object": "model", "created": 0, "owned_by": "test"}]
DIM = 32


def vector(text: str) -> list[float]:
    """A deterministic vector: character trigrams hashed into DIM buckets (similar texts
    land near each other)."""
    values = [0.0] * DIM
    for i in range(max(len(text) - 2, 1)):
        values[hashlib.md5(text[i:i + 3].encode()).digest()[0] % DIM] += 1.0
    return values


class StandIn:
    """The server and what it saw; ``behaviour`` picks how it answers (normal, stall,
    html, garbage, drip, run-on: ``poem`` then words without end, no-completions)."""

    def __init__(self, key: str | None = None):
        self.key = key
        self.behaviour = "normal"
        self.poem = "Ночь тиха, луна светла,\nтень по улице легла."  # what /completions streams
        self.requests: list[tuple[str, dict]] = []
        self.client_left = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def bodies(self, path: str) -> list[dict]:
        return [body for seen, body in self.requests if seen == path]

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self._refused():
                return
            if stand_in.behaviour == "html":
                self._send(200, b"<html>not an API</html>", "text/html")
            elif self.path == "/v1/models":
                self._json(200, {"object": "list", "data": MODELS})
            else:
                self._json(404, {"error": {"message": "no such path"}})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            stand_in.requests.append((self.path, body))
            if self._refused():
                return
            if stand_in.behaviour == "html":
                self._send(200, b"<html>not an API</html>", "text/html")
            elif body.get("model") not in {m["id"] for m in MODELS}:
                self._json(404, {"error": {"message": f"model {body.get('model')} not found"}})
            elif self.path == "/v1/embeddings":
                data = [{"object": "embedding", "index": i, "embedding": vector(t)}
                        for i, t in enumerate(body["input"])]
                self._json(200, {"object": "list", "data": data, "model": body["model"]})
            elif self.path == "/v1/chat/completions":
                self._stream(self._chat_text(body), chat=True)
            elif self.path == "/v1/completions" and stand_in.behaviour != "no-completions":
                self._stream(stand_in.poem, chat=False)
            else:
                self._json(404, {"error": {"message": "no such path"}})

        def _chat_text(self, body: dict) -> str:
            last = body["messages"][-1]["content"]
            return "Москва [1]." if "[1]" in last else "Привет! Я Лира."

        def _refused(self) -> bool:
            if stand_in.key and self.headers.get("Authorization") != f"Bearer {stand_in.key}":
                self._json(401, {"error": {"message": "invalid api key"}})
                return True
            return False

        def _stream(self, text: str, chat: bool) -> None:
            if stand_in.behaviour == "slow-prompt":  # still reading a long prompt
                time.sleep(2)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                pieces = [text[i:i + 3] for i in range(0, len(text), 3)]
                if stand_in.behaviour in ("drip", "slow-prompt"):
                    pieces = ("слово " for _ in range(100_000))
                elif stand_in.behaviour == "run-on":
                    pieces = itertools.chain(pieces, ("слово " for _ in range(100_000)))
                for n, piece in enumerate(pieces):
                    if stand_in.behaviour == "garbage" and n == 1:
                        self.wfile.write(b"data: <not json>\n\n")
                    self._event(_chunk(piece, None, chat))
                    if stand_in.behaviour == "stall" and n == 1:
                        time.sleep(3)
                    if stand_in.behaviour in ("drip", "slow-prompt", "run-on"):
                        time.sleep(0.05)
                self._event(_chunk("", "stop", chat))
                self._event({"id": "x", "choices": [], "usage": {
                    "prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                stand_in.client_left.set()
            self.close_connection = True

        def _event(self, data: dict) -> None:
            self.wfile.write(f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode())
            self.wfile.flush()

        def _json(self, status: int, data: dict) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def _send(self, status: int, payload: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _chunk(piece: str, finish: str | None, chat: bool) -> dict:
    if chat:
        choice = {"index": 0, "delta": {"role": "assistant", "content": piece},
                  "finish_reason": finish}
        return {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [choice]}
    return {"id": "x", "object": "text_completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "text": piece, "finish_reason": finish}]}
