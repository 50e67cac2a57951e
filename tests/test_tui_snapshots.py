"""SVG snapshots of the chat app's main screens (pytest-textual-snapshot).

Deterministic by construction: the fake backend streams fixed text with fixed
timings, the history clock is fixed, the cursor does not blink, and nothing
shown depends on paths or dates of the machine.  Update with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import time

import pytest

from assistant.chat.history import History
from assistant.settings import Settings
from assistant.tui.app import LiraApp
from tests.tui_fakes import FakeBackend

FIXED_NOW = 1_700_000_000.0  # 14.11.2023


@pytest.fixture
def utc(monkeypatch):
    """Dates in the history list are local time: pin the zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def app_factory(tmp_path, utc):
    def make(mode: str = "documents", theme: str = "dark", **kwargs) -> LiraApp:
        settings = Settings(home=tmp_path / "home")
        history = History.open(tmp_path / "history.sqlite", clock=lambda: FIXED_NOW)
        return LiraApp(settings, FakeBackend(settings), mode=mode, theme=theme,
                       history=history, cursor_blink=False, **kwargs)

    return make


async def wait_idle(pilot, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while pilot.app.job is not None or not pilot.app.models:
        if time.monotonic() > deadline:
            raise AssertionError("the app did not settle")
        await pilot.pause(0.02)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def asking(question: str, *keys: str):
    async def run_before(pilot) -> None:
        await wait_idle(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        if question:
            pilot.app.prompt.text = question
            await pilot.press("enter")
        await wait_idle(pilot)

    return run_before


def test_start_screen(snap_compare, app_factory):
    assert snap_compare(app_factory("documents"), terminal_size=(80, 24),
                        run_before=asking(""))


def test_documents_answer_with_sources(snap_compare, app_factory):
    assert snap_compare(app_factory("documents"), terminal_size=(80, 24),
                        run_before=asking("Когда основан Петербург?"))


def test_passage_dialog(snap_compare, app_factory):
    async def run_before(pilot) -> None:
        await asking("Когда основан Петербург?")(pilot)
        pilot.app.open_passage(pilot.app.chat_log.last_answer(), 1)
        await pilot.pause()

    assert snap_compare(app_factory("documents"), terminal_size=(80, 24), run_before=run_before)


def test_poem_answer(snap_compare, app_factory):
    app = app_factory("poem", author="Александр Пушкин")
    assert snap_compare(app, terminal_size=(80, 24), run_before=asking("Зимний вечер"))


def test_chat_in_a_wide_light_terminal(snap_compare, app_factory):
    async def run_before(pilot) -> None:
        await asking("Когда основан Петербург?")(pilot)
        await asking("А Москва?")(pilot)

    assert snap_compare(app_factory("chat", theme="light"), terminal_size=(120, 36),
                        run_before=run_before)


def test_history_dialog(snap_compare, app_factory):
    async def run_before(pilot) -> None:
        await asking("Когда основан Петербург?")(pilot)
        await pilot.press("f3")
        await pilot.pause()

    assert snap_compare(app_factory("documents"), terminal_size=(80, 24), run_before=run_before)
