"""A streamed answer from an OpenAI-compatible server, with TextStream's interface.

Iterating sends the request and yields the text of each server-sent event;
``stats`` is filled as for a local model (time to first token, tokens, why it
stopped).  Setting ``cancel`` shuts the connection at once, even while the
server is silent, so the server sees the client leave.  While the server is
still reading the prompt (no response yet, nothing to shut), a cancel returns
at once too: the request goes on in a helper thread, which hangs up as soon as
the server answers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from assistant.errors import GenerationError
from assistant.runtime.generation import GenerationStats
from assistant.runtime.presets import Preset
from index.remote_api import api_failure, not_json

WATCH_S = 0.05  # how often the watcher looks at the cancel event
FINISH_REASONS = {"length": "max tokens", "stop": "eos"}
OpenStream = Callable[[], Any]  # sends the request, returns openai's Stream
PieceOf = Callable[[Any], str | None]  # the text of one chunk


class RemoteStream:
    """Iterates over the text a server streams; ``.stats`` is complete once exhausted."""

    def __init__(self, open_stream: OpenStream, piece_of: PieceOf, preset: Preset,
                 cancel: threading.Event, where: tuple[str, str, str], prompt_tokens: int):
        self.open_stream = open_stream
        self.piece_of = piece_of
        self.preset = preset
        self.cancel = cancel  # set by the caller to stop early
        self.url, self.model, self.setting = where
        self.stats = GenerationStats(prompt_tokens=prompt_tokens)

    def __iter__(self) -> Iterator[str]:
        started = time.perf_counter()
        done = threading.Event()
        stream = None
        try:
            stream = self._open_unless_cancelled()
            if stream is None:
                return
            threading.Thread(target=_watch, args=(self.cancel, done, stream.response),
                             daemon=True, name="lira-remote-cancel").start()
            yield from self._pieces(stream, started)
        except Exception as exc:
            if not self.cancel.is_set():  # a cancel shows up as a broken connection
                raise self._error(exc) from exc
        finally:
            done.set()
            if stream is not None:
                stream.close()
            self.stats.total_s = time.perf_counter() - started
            if self.cancel.is_set():
                self.stats.stopped_by = "cancelled"

    def _open_unless_cancelled(self) -> Any:
        """The opened stream, or None when ``cancel`` is set before the server answers
        (the helper thread then closes what it opens)."""
        box: dict[str, Any] = {}
        opened = threading.Event()

        def open_it() -> None:
            try:
                box["stream"] = self._open()
            except Exception as exc:  # raised by the caller below, unless it has left
                box["error"] = exc
            finally:
                opened.set()
                if self.cancel.is_set() and "stream" in box:
                    _shut(box["stream"].response)
                    box["stream"].close()

        threading.Thread(target=open_it, daemon=True, name="lira-remote-open").start()
        while not opened.wait(WATCH_S):
            if self.cancel.is_set():
                return None
        if "error" in box:
            raise box["error"]
        return box["stream"]

    def _open(self) -> Any:
        stream = self.open_stream()
        kind = stream.response.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            stream.close()
            raise GenerationError(not_json(self.url, self.setting))
        return stream

    def _pieces(self, stream: Any, started: float) -> Iterator[str]:
        counted = 0
        for chunk in stream:
            if self.cancel.is_set():
                return
            self._note_usage(getattr(chunk, "usage", None))
            for choice in chunk.choices or ():
                self._note_finish(choice)
            piece = self.piece_of(chunk)
            if piece:
                if self.stats.first_token_s is None:
                    self.stats.first_token_s = time.perf_counter() - started
                counted += 1  # one chunk is about one token on the servers Lira talks to
                self.stats.new_tokens = max(self.stats.new_tokens, counted)
                yield piece

    def _note_usage(self, usage: Any) -> None:
        if usage is not None:  # the last chunk, when the server reports usage
            self.stats.prompt_tokens = usage.prompt_tokens or self.stats.prompt_tokens
            self.stats.new_tokens = usage.completion_tokens or self.stats.new_tokens

    def _note_finish(self, choice: Any) -> None:
        reason = getattr(choice, "finish_reason", None)
        if reason in FINISH_REASONS:
            self.stats.stopped_by = FINISH_REASONS[reason]
        # vLLM names the stop string that ended the text; others say only "stop"
        if reason == "stop" and isinstance(getattr(choice, "stop_reason", None), str):
            self.stats.stopped_by = "stop string"

    def _error(self, exc: Exception) -> GenerationError:
        if isinstance(exc, GenerationError):
            return exc
        line = api_failure(exc, self.url, self.model, self.setting)
        return GenerationError(line or f"generation at {self.url} failed: {exc}")


def _watch(cancel: threading.Event, done: threading.Event, response: Any) -> None:
    """Shut the response's socket when ``cancel`` is set before ``done``: the reading
    thread wakes from a blocked read at once, and the server sees the client leave."""
    while not done.is_set():
        if cancel.wait(WATCH_S):
            _shut(response)
            return


def _shut(response: Any) -> None:
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: nothing left to stop
