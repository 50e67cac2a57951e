"""One long-lived thread for all model work (loading, embedding, generating).

torch's CPU kernels run on libgomp thread teams, one team per calling thread.
Once two Python threads have both run torch code, the process holds more
OpenMP threads than cores and libgomp stops spin-waiting between kernels:
measured here, generation in a second thread ran about 25% slower than in the
thread that loaded the model.  Funnelling every model call through this one
thread keeps a single team, whether the caller is the CLI or the TUI.

The thread is a daemon: Ctrl+C ends the process at once, and whatever it was
writing is rolled back by the index's transactions.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_NAME = "lira-compute"


class _ComputeThread(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name=_NAME, daemon=True)
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            future, fn, args, kwargs = self.tasks.get()
            if future.set_running_or_notify_cancel():
                self.busy = True
                try:
                    _settle(future, fn, args, kwargs)
                finally:
                    self.busy = False

    busy = False  # inside a task: maybe inside torch's OpenMP kernels


_thread: _ComputeThread | None = None
_lock = threading.Lock()


def _settle(future: Future, fn: Callable, args: tuple, kwargs: dict) -> None:
    try:
        future.set_result(fn(*args, **kwargs))
    except BaseException as exc:  # delivered to whoever waits on the future
        future.set_exception(exc)


def busy() -> bool:
    """Whether the compute thread is running a task now.

    A process must not finalize while it is: libstdc++ aborts ("terminate called
    without an active exception") when the interpreter exits under running OpenMP
    threads, so the CLI leaves with os._exit after a Ctrl+C that came mid-task.
    """
    return _thread is not None and _thread.busy


def on_compute_thread() -> bool:
    return threading.current_thread().name == _NAME


def submit(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future:
    """Queue ``fn`` on the compute thread (run inline if already on it)."""
    global _thread
    future: Future = Future()
    if on_compute_thread():
        future.set_running_or_notify_cancel()
        _settle(future, fn, args, kwargs)
        return future
    with _lock:
        if _thread is None:
            _thread = _ComputeThread()
            _thread.start()
    _thread.tasks.put((future, fn, args, kwargs))
    return future


def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on the compute thread and wait for its result."""
    return submit(fn, *args, **kwargs).result()


class ComputeEmbedder:
    """An index.embeddings.Embedder whose model calls run on the compute thread."""

    def __init__(self, embedder: Any):
        self.inner = embedder
        self.name, self.dim, self.path = embedder.name, embedder.dim, embedder.path

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, texts):  # tokenizers only: no torch, any thread will do
        return self.inner.count_tokens(texts)

    def embed_passages(self, texts):
        return run(self.inner.embed_passages, texts)

    def embed_queries(self, texts):
        return run(self.inner.embed_queries, texts)


class ComputeEntailment:
    """An entailment scorer (assistant.grounding.nli.EntailmentScorer) run on the compute thread."""

    def __init__(self, scorer: Any):
        self.inner = scorer

    def scores(self, pairs):
        return run(self.inner.scores, pairs)
