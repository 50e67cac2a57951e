"""A fake Backend for the chat app's UI tests: fixed pieces, fixed stats, no models.

It streams through the same interface as ChatBackend (Reply, ReplyRequest), so
the app cannot tell the difference; tests steer it with events.  A helper module
imported by the tui tests (its own check is in test_tui.py), with ``until``, the
wait every Pilot test uses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.chat.backend import (
    Grounding,
    IndexSummary,
    Reply,
    ReplyRequest,
    retrieval_badge,
)
from assistant.chat.history import ModelUsed
from assistant.errors import GenerationError
from assistant.followup import read_follow_up
from assistant.rag import Source
from assistant.runtime.generation import GenerationStats
from assistant.settings import Settings

ANSWER = ["**Петербург** ", "основан ", "в 1703 году ", "Петром Первым [1]. ",
          "Столица России — Москва [2]."]
POEM = ["Мороз и ветер,", " день печальный,\n", "Снега лежат", " в полях пустых.\n",
        "И путь далёкий,", " путь прощальный\n", "Ведёт меня", " от мест родных."]
SOURCES = [
    Source(1, "/docs/spb.md", "Петербург", "", "Петербург основан в 1703 году Петром "
           "Первым. Город стоит на Неве.", 0.0328),
    Source(2, "/docs/moscow.txt", "Москва", "", "Москва — столица России, крупнейший "
           "город страны.", 0.0161),
]
EXAMPLES = [
    Source(1, "/poems/pushkin.jsonl", "Зимнее утро", "Александр Пушкин",
           "Мороз и солнце; день чудесный!\nЕщё ты дремлешь, друг прелестный —", 0.031),
    Source(2, "/poems/pushkin.jsonl", "Зимняя дорога", "Александр Пушкин",
           "Сквозь волнистые туманы\nПробирается луна,", 0.029),
]
AUTHORS = [("Александр Пушкин", 12), ("Михаил Лермонтов", 9), ("Александр Блок", 7),
           ("Николай Некрасов", 5)]


class FakeStream:
    """Yields fixed pieces, taking one permit of ``gate`` before each; honours cancel."""

    def __init__(self, pieces: Sequence[str], cancel: threading.Event,
                 gate: threading.Semaphore | None, fail_after: int | None, delay: float):
        self.pieces = list(pieces)
        self.cancel = cancel
        self.gate = gate
        self.fail_after = fail_after
        self.delay = delay
        self.stats = GenerationStats(prompt_tokens=42)

    def __iter__(self) -> Iterator[str]:
        for n, piece in enumerate(self.pieces):
            if self.gate is not None:
                while not self.gate.acquire(timeout=0.01):
                    if self.cancel.is_set():
                        break
            if self.cancel.is_set():
                self.stats.stopped_by = "cancelled"
                break
            if self.fail_after is not None and n == self.fail_after:
                raise GenerationError("generation failed: the fake model broke")
            if self.delay:
                time.sleep(self.delay)
            self.stats.new_tokens += 1
            yield piece
        # Fixed timings, so snapshots and status bars are deterministic.
        self.stats.first_token_s = 0.25
        self.stats.total_s = 0.25 + 0.05 * max(0, self.stats.new_tokens - 1)


@dataclass
class FakeBackend:
    """Backend for UI tests.  ``loaded`` gates load(); ``gate`` lets pieces out one by one."""

    settings: Settings
    pieces: list[str] = field(default_factory=lambda: list(ANSWER))
    poem: list[str] = field(default_factory=lambda: list(POEM))
    sources: list[Source] = field(default_factory=lambda: list(SOURCES))
    examples: list[Source] = field(default_factory=lambda: list(EXAMPLES))
    authors_list: list[tuple[str, int]] = field(default_factory=lambda: list(AUTHORS))
    loaded: threading.Event = field(default_factory=threading.Event)
    gate: threading.Semaphore | None = None
    fail_after: int | None = None
    load_error: str | None = None
    reply_error: str | None = None
    delay: float = 0.0
    requests: list[ReplyRequest] = field(default_factory=list)
    index_calls: list[tuple[Path, str | None, str]] = field(default_factory=list)
    index_gate: threading.Event | None = None

    def __post_init__(self):
        self.loaded.set()

    def load(self, mode: str, adapter: str | None = None) -> ModelUsed:
        self.loaded.wait(10)
        if self.load_error:
            from assistant.errors import ModelLoadError

            raise ModelLoadError(self.load_error)
        return ModelUsed("fake-model", adapter if adapter not in (None, "none") else "", "cpu")

    def reply(self, request: ReplyRequest) -> Reply:
        self.loaded.wait(10)  # like ChatBackend: a question waits for the model
        self.requests.append(request)
        if self.reply_error:
            raise GenerationError(self.reply_error)
        cancel = threading.Event()
        if request.mode == "poem":
            sources, pieces = self.examples, self.poem
        elif request.mode == "documents":
            sources, pieces = self.sources, self.pieces
        else:
            sources, pieces = [], self.pieces
        stream = FakeStream(pieces, cancel, self.gate, self.fail_after, self.delay)
        if request.mode == "poem" and request.form is not None:
            stream.report = lambda: fake_form_report(request.form)
        # the real reading of a follow-up: the app must pass the conversation to get it
        follow_up = read_follow_up(request.text, request.turns)
        searched = (follow_up.searched if request.mode == "documents" and follow_up.rewritten
                    else None)
        return Reply(list(sources), stream, cancel, ModelUsed("fake-model", "", "cpu"),
                     retrieval=bool(sources), searched=searched)

    def authors(self, index_name: str | None = None) -> list[tuple[str, int]]:
        return list(self.authors_list)

    def index(self, path: Path, name: str | None, layout: str, progress) -> IndexSummary:
        self.index_calls.append((path, name, layout))
        for done in range(1, 4):
            if self.index_gate is not None:
                self.index_gate.wait(10)
            progress(done, 3, done * 2)
        return IndexSummary(name or "default", added=3, chunks=6, seconds=0.5)

    def grounding(self, reply: Reply, text: str) -> Grounding | None:
        return retrieval_badge(reply.sources)


async def until(pilot, condition, timeout: float = 10.0) -> None:
    """Let the app run until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


def fake_form_report(form) -> dict:
    """A constrained poem's report as poetry.constrained gives it, for the fixed POEM."""
    return {"requested": {"scheme": form.scheme, "metre": form.metre, "feet": form.feet,
                          "stanzas": form.stanzas},
            "achieved": {"rhyme_scheme": "ABAB", "metre": "ямб", "feet": 4, "stanzas": 1},
            "lines_in_form": 3, "lines": 4, "lines_rhymed": 4, "lines_in_metre": 3}
