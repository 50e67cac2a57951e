"""The chat app over the real Engine (ChatBackend) with the tiny random models.

The text is noise, but everything else is real: model loading in a worker,
retrieval, streaming on the compute thread, cancelling, indexing, history.
"""

from __future__ import annotations

import json
import time

import pytest
from textual.widgets import OptionList

from assistant.chat.backend import ChatBackend, ReplyRequest, Turn, build_chat_prompt
from assistant.chat.history import History
from assistant.tui.app import LiraApp
from assistant.tui.widgets.chat_log import ChatLog
from assistant.tui.widgets.sources import SourcesPanel
from tests.poems import POEMS
from tests.tui_fakes import until

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def settings(tiny_settings):
    tiny_settings.max_new_tokens = 6
    return tiny_settings


async def ask(pilot, text: str) -> None:
    pilot.app.prompt.text = text
    await pilot.press("enter")
    await until(pilot, lambda: pilot.app.job is None, timeout=60)
    await pilot.pause()


async def test_chat_mode_with_the_real_engine(settings):
    app = LiraApp(settings, ChatBackend(settings), mode="chat", cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.models, timeout=60)
        assert "gpt2 · без адаптера · CPU" in str(app.query_one("#status-model").render())
        await ask(pilot, "Привет")
        await ask(pilot, "Как дела?")
        first, second = app.query_one(ChatLog).answers
        assert second.stats is not None and 0 < second.stats.new_tokens <= 6
        assert "ток/с" in str(app.query_one("#status-speed").render())
        messages = History.open(settings.home / "history.sqlite").messages(
            app.session.conversation_id)
        assert [m.role for m in messages] == ["user", "assistant"] * 2
        assert messages[-1].model.model == str(settings.chat.model)
        assert messages[-1].complete and messages[-1].stats.prompt_tokens > 0


async def test_documents_mode_indexes_and_cites_with_the_real_engine(settings, docs):
    app = LiraApp(settings, ChatBackend(settings), mode="documents", cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.prompt.text = f"/index {docs}"
        await pilot.press("enter")
        await until(pilot, lambda: app.indexing is None and app.session.index_name, timeout=60)
        await until(pilot, lambda: not app.indexing, timeout=60)
        assert any("готов" in (n.title or "") for n in app._notifications)
        await ask(pilot, "Когда основан Петербург?")
        answer = app.query_one(ChatLog).answers[0]
        assert [s.n for s in answer.sources] == [1, 2]
        assert any(s.path.endswith("spb.md") for s in answer.sources)
        assert app.query_one(SourcesPanel).query_one(OptionList).option_count == 2
        # the check of the answer against its passages arrives after the answer
        assert answer.text.strip()
        await until(pilot, lambda: answer.grounding is not None and answer.grounding.checked,
                    timeout=60)
        # the badge is the engine's own check of this answer against these passages
        report = app.backend.engine.check_answer(answer.text, answer.sources)
        # the tiny random model writes no word the check could weigh: it must not show a
        # green 1.00 (test_tui.py checks a scored badge over the checker's rules)
        assert report.nothing_checked
        assert answer.grounding.label == "нечего проверять" and answer.grounding.score is None
        # its report reaches the answer, whose evidence windows the sources panel marks
        assert answer.report is answer.grounding.report is not None


async def test_documents_mode_without_an_index_says_so(settings):
    app = LiraApp(settings, ChatBackend(settings), mode="documents", cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await ask(pilot, "Когда основан Петербург?")
        assert any("не найден или пуст" in n.message for n in app._notifications)
        assert app.query_one(ChatLog).answers[0].sources == []


async def test_poem_mode_with_the_real_engine(settings, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "poems.jsonl").write_text(
        "\n".join(json.dumps(p, ensure_ascii=False) for p in POEMS), encoding="utf-8")
    app = LiraApp(settings, ChatBackend(settings), mode="chat", index_name="poems",
                  cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.start_index(corpus, "poems")
        await until(pilot, lambda: app.indexing is None and app.authors, timeout=60)
        assert app.authors == [("Александр Пушкин", 3), ("Михаил Лермонтов", 1)]
        app.prompt.text = "/author пушкин"
        await pilot.press("enter")
        assert app.session.mode == "poem" and app.session.author == "Александр Пушкин"
        await ask(pilot, "Зимняя ночь")
        answer = app.query_one(ChatLog).answers[0]
        assert answer.sources and all(s.author == "Александр Пушкин" for s in answer.sources)
        assert "gpt2" not in str(app.query_one("#status-model").render())  # the poem model


async def test_escape_cancels_real_generation(settings):
    settings.max_new_tokens = 400
    backend = ChatBackend(settings)
    app = LiraApp(settings, backend, mode="chat", cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.models, timeout=60)
        # The tiny model writes 400 tokens faster than a key press lands: slow it down.
        model = backend.engine.generator("chat").loaded.model
        forward = model.forward
        model.forward = lambda *a, **k: (time.sleep(0.01), forward(*a, **k))[1]
        app.prompt.text = "Расскажи длинную историю"
        await pilot.press("enter")
        answer = app.query_one(ChatLog).answers[0]
        await until(pilot, lambda: answer.text, timeout=60)
        await pilot.press("escape")
        await until(pilot, lambda: app.job is None, timeout=60)
        assert answer.stats.stopped_by == "cancelled" and answer.stats.new_tokens < 400


def test_backend_reply_in_chat_mode_uses_earlier_turns(settings, monkeypatch):
    backend = ChatBackend(settings)
    generator = backend.engine.generator("chat")
    prompts, stream = [], generator.stream
    monkeypatch.setattr(generator, "stream", lambda prompt, *args, **kwargs: (
        prompts.append(prompt), stream(prompt, *args, **kwargs))[1])
    turns = [Turn("Первый?", "Да.")]
    reply = backend.reply(ReplyRequest("chat", "И второй?", turns=turns))
    "".join(reply)
    assert prompts == [build_chat_prompt(turns, "И второй?")]
    assert prompts[0].endswith("Пользователь: Первый?\nЛира: Да.\nПользователь: И второй?\nЛира:")
    stats = reply.stats()  # what was generated came from that prompt
    assert stats.prompt_tokens == len(generator.loaded.tokenizer(prompts[0])["input_ids"])
    assert 0 < stats.new_tokens <= 6
    assert reply.sources == [] and reply.model.device == "cpu"


def test_chat_prompt_drops_the_oldest_turns_to_fit():
    turns = [Turn(f"вопрос {n}", f"ответ {n}") for n in range(5)]
    prompt = build_chat_prompt(turns, "последний", fits=lambda text: len(text) < 200)
    assert prompt.endswith("Пользователь: последний\nЛира:")
    assert "вопрос 4" in prompt and "вопрос 0" not in prompt and len(prompt) < 200
    bare = build_chat_prompt(turns, "последний", fits=lambda text: False)
    assert "вопрос" not in bare
