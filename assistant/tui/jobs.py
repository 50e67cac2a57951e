"""Background jobs (load a model, reply, index) and the messages they post to the app.

Each job body runs in a Textual thread worker and blocks on the backend; it
never touches widgets, only posts messages (``post_message`` is thread-safe),
and it catches every error so that a failure becomes a notification, never a
crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.message import Message

from assistant.chat.backend import Backend, IndexSummary, Reply, ReplyRequest
from assistant.chat.history import AnswerStats, ModelUsed
from assistant.chat.modes import Mode
from assistant.errors import USER_ERRORS

Post = Callable[[Message], Any]


def describe_error(exc: BaseException) -> str:
    """One line for a notification: Lira's own message, or the type of a bug."""
    if isinstance(exc, USER_ERRORS):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


# ----- loading ---------------------------------------------------------------
class ModelReady(Message):
    def __init__(self, mode: Mode, adapter: str | None, model: ModelUsed) -> None:
        super().__init__()
        self.mode = mode
        self.adapter = adapter
        self.model = model


class ModelFailed(Message):
    def __init__(self, mode: Mode, adapter: str | None, error: str) -> None:
        super().__init__()
        self.mode = mode
        self.adapter = adapter
        self.error = error


def load_job(backend: Backend, mode: Mode, adapter: str | None, post: Post) -> None:
    try:
        post(ModelReady(mode, adapter, backend.load(mode, adapter)))
    except Exception as exc:  # noqa: BLE001 - shown to the user, never raised
        post(ModelFailed(mode, adapter, describe_error(exc)))


# ----- replies ---------------------------------------------------------------
class ReplyJob:
    """One reply in flight.  ``cancel`` may be called from the UI at any moment."""

    def __init__(self, request: ReplyRequest, view: Any, message_id: int | None):
        self.request = request
        self.view = view  # the AnswerView it streams into
        self.message_id = message_id
        self.cancelled = threading.Event()
        self.reply: Reply | None = None
        self.text = ""  # what has streamed in so far (UI thread only)
        self.shown = 0  # how much of it is on the screen
        self.saved_at = 0.0

    def cancel(self) -> None:
        self.cancelled.set()
        reply = self.reply
        if reply is not None:
            reply.cancel()


class ReplyStarted(Message):
    def __init__(self, job: ReplyJob, reply: Reply) -> None:
        super().__init__()
        self.job = job
        self.reply = reply


class ReplyPiece(Message):
    def __init__(self, job: ReplyJob, text: str) -> None:
        super().__init__()
        self.job = job
        self.text = text


class ReplyEnded(Message):
    def __init__(self, job: ReplyJob, stats: AnswerStats | None, error: str | None,
                 form: dict | None = None) -> None:
        super().__init__()
        self.job = job
        self.stats = stats
        self.error = error
        self.form = form  # a form-constrained poem's requested and achieved form


def reply_job(backend: Backend, job: ReplyJob, post: Post) -> None:
    """Prepare the reply (waiting for a model still loading), then stream it."""
    try:
        reply = backend.reply(job.request)
    except Exception as exc:  # noqa: BLE001
        post(ReplyEnded(job, None, describe_error(exc)))
        return
    job.reply = reply
    if job.cancelled.is_set():
        reply.cancel()
    post(ReplyStarted(job, reply))
    try:
        if not job.cancelled.is_set():
            for piece in reply:
                post(ReplyPiece(job, piece))
    except Exception as exc:  # noqa: BLE001
        post(ReplyEnded(job, reply.stats(), describe_error(exc)))
        return
    try:  # analysing the poem's form takes the stress model: here, not on the UI thread
        form = reply.form_report() if not job.cancelled.is_set() else None
    except Exception:  # noqa: BLE001  (a failed analysis must not lose the poem)
        form = None
    post(ReplyEnded(job, reply.stats(), None, form))


# ----- indexing --------------------------------------------------------------
class IndexProgress(Message):
    def __init__(self, done: int, total: int, chunks: int) -> None:
        super().__init__()
        self.done = done
        self.total = total
        self.chunks = chunks


class IndexEnded(Message):
    def __init__(self, name: str, summary: IndexSummary | None, error: str | None) -> None:
        super().__init__()
        self.name = name
        self.summary = summary
        self.error = error


def index_job(backend: Backend, path: Path, name: str, layout: str, post: Post) -> None:
    post(IndexProgress(0, 0, 0))
    try:
        summary = backend.index(path, name, layout,
                                lambda done, total, chunks: post(IndexProgress(done, total,
                                                                               chunks)))
    except Exception as exc:  # noqa: BLE001
        post(IndexEnded(name, None, describe_error(exc)))
        return
    post(IndexEnded(name, summary, None))


# ----- authors ---------------------------------------------------------------
class AuthorsLoaded(Message):
    def __init__(self, index_name: str, authors: list[tuple[str, int]]) -> None:
        super().__init__()
        self.index_name = index_name
        self.authors = authors


def authors_job(backend: Backend, index_name: str, post: Post) -> None:
    try:
        authors = backend.authors(index_name)
    except Exception:  # noqa: BLE001 - a broken index just has no authors to offer
        authors = []
    post(AuthorsLoaded(index_name, authors))
