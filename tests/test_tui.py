"""The chat app driven by Pilot over a fake backend: every feature of the UI.

The fake streams fixed pieces through the real Reply interface; the tests in
test_tui_engine.py drive the same app over the real Engine with tiny models.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

import pytest
from textual.widgets import Markdown, OptionList

from assistant.chat.backend import ChatBackend, Reply
from assistant.chat.history import History
from assistant.poetry.constrained_form import FormAsk
from assistant.rag import Source
from assistant.settings import Settings
from assistant.tui.app import LiraApp
from assistant.tui.screens.author import AuthorScreen
from assistant.tui.screens.help import HelpScreen
from assistant.tui.screens.history import HistoryScreen
from assistant.tui.screens.passage import PassageScreen
from assistant.tui.screens.settings import SettingsScreen
from assistant.tui.widgets.chat_log import AnswerView, ChatLog, UserMessage
from assistant.tui.widgets.sources import SourcesPanel
from tests.tui_fakes import ANSWER, POEM, FakeBackend, FakeStream, until

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def make_app(settings):
    """An app over a FakeBackend with a history file in the test's LIRA_HOME."""

    def _make(mode: str = "documents", backend: FakeBackend | None = None, **kwargs) -> LiraApp:
        backend = backend or FakeBackend(settings)
        return LiraApp(settings, backend, mode=mode, cursor_blink=False, **kwargs)

    return _make


async def opened(pilot, screen_type, selector: str = "*") -> None:
    """Wait until a dialog of ``screen_type`` is on top and composed."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, screen_type)
                and bool(app.screen.query(selector)))


async def send(pilot, text: str, typed: bool = False) -> None:
    """Put ``text`` in the message box (key by key if ``typed``) and press Enter."""
    if typed:
        await pilot.press(*text)
    else:
        pilot.app.prompt.text = text
    await pilot.press("enter")


async def settled(pilot) -> None:
    """Wait until no reply is in flight and the workers are done."""
    await until(pilot, lambda: pilot.app.job is None)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def answers(app: LiraApp) -> list[AnswerView]:
    return app.query_one(ChatLog).answers


def stored(app: LiraApp, settings: Settings):
    history = History.open(settings.home / "history.sqlite")
    try:
        return history.messages(app.session.conversation_id)
    finally:
        history.close()


def notes(app: LiraApp) -> list[tuple[str, str]]:
    return [(n.message, n.severity) for n in app._notifications]


@dataclass
class CheckingBackend(FakeBackend):
    """The fake's replies finished as ChatBackend finishes them: the real Engine checks
    each (on the checker's rules alone: no models) and repairs it as the settings'
    on_unsupported says; a second try streams ``second``, a piece per permit of
    ``second_gate``, through the reply's own cancel event."""

    second: list[str] = field(default_factory=list)
    second_gate: threading.Semaphore | None = None
    retrying: threading.Event = field(default_factory=threading.Event)

    def reply(self, request):
        from assistant.engine import PreparedAnswer

        reply = super().reply(request)

        def regenerate(evidence):
            self.retrying.set()
            return FakeStream(self.second, reply.cancel_event, self.second_gate, None, 0.0)

        reply.prepared = PreparedAnswer(request.text, "", reply.sources, reply.stream,
                                        regenerate=regenerate)
        return reply

    def grounding(self, reply: Reply, text: str):
        from assistant.engine import Engine
        from assistant.grounding import check_answer

        engine = Engine(self.settings)
        engine.check_answer = lambda answer, sources, question=None: check_answer(answer, sources)
        return ChatBackend(self.settings, engine).grounding(reply, text)


def marked_in_panel(app: LiraApp) -> set[str]:
    """The text the sources panel's preview marks as a check's evidence."""
    preview = app.query_one(SourcesPanel).query_one(".panel-passage").render()
    return {str(preview)[s.start:s.end] for s in preview.spans if "underline" in str(s.style)}


# Two chunks of one file (1 and 3) and another file; an answer sentence no passage backs.
SPB = [Source(1, "/docs/spb.md", "Петербург", "", "Петербург основан в 1703 году Петром "
              "Первым. Город стоит на Неве.", 0.0328),
       Source(2, "/docs/moscow.txt", "Москва", "", "Москва — столица России.", 0.0161),
       Source(3, "/docs/spb.md", "Петербург", "", "Летом в Петербурге белые ночи.", 0.0159)]
UNBACKED = "Луна сделана из зелёного сыра и пахнет морем [2]."


# ----- 1. first paint and loading -------------------------------------------
async def test_input_is_usable_before_the_model_is_ready(make_app, settings):
    backend = FakeBackend(settings)
    backend.loaded.clear()
    app = make_app(mode="chat", backend=backend)
    async with app.run_test(size=(80, 24)) as pilot:
        status = str(app.query_one("#status-model").render())
        assert "загрузка" in status
        assert app.focused is app.prompt
        await send(pilot, "Привет", typed=True)
        answer = answers(app)[0]
        assert answer.question == "Привет" and app.prompt.text == ""
        assert "Жду, пока загрузится модель" in str(answer.query_one(".answer-waiting").render())
        assert answer.text == ""  # waiting for the model, not answering
        backend.loaded.set()
        await settled(pilot)
        assert answer.text == "".join(ANSWER)
        assert "fake-model · без адаптера · CPU" in str(app.query_one("#status-model").render())


async def test_status_bar_shows_speed_and_first_token(make_app):
    app = make_app(mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Вопрос")
        await settled(pilot)
        speed = str(app.query_one("#status-speed").render())
        assert speed == "20.0 ток/с · 1-й токен 0.25 с"


# ----- 2. chat ---------------------------------------------------------------
async def test_enter_sends_and_ctrl_j_inserts_a_newline(make_app):
    app = make_app(mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a", "ctrl+j", "b")
        assert app.prompt.text == "a\nb"
        await pilot.press("shift+enter", "c")
        assert app.prompt.text == "a\nb\nc"
        await pilot.press("enter")
        await settled(pilot)
        assert app.query_one(UserMessage).text == "a\nb\nc"
        assert app.prompt.text == ""


async def test_answer_streams_by_appending_not_re_rendering(make_app, settings, monkeypatch):
    updates = []
    original = Markdown.update

    def counting_update(self, markdown):
        updates.append(markdown)
        return original(self, markdown)

    monkeypatch.setattr(Markdown, "update", counting_update)
    gate = threading.Semaphore(0)
    app = make_app(mode="chat", backend=FakeBackend(settings, gate=gate))
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Вопрос")
        answer = answers(app)[0]
        body = answer.body
        updates.clear()
        for n in range(1, 4):
            gate.release()
            shown = "".join(ANSWER[:n])
            await until(pilot, lambda shown=shown: answer.text == shown)
            await until(pilot, lambda shown=shown: body.source == shown)
        assert updates == []  # every token was appended to the same Markdown widget
        assert answer.body is body
        gate.release(10)
        await settled(pilot)
        # One final update turns citations [n] into links (chat mode has no sources: none).
        assert len(updates) <= 1


async def test_escape_stops_generation(make_app, settings):
    gate = threading.Semaphore(0)
    app = make_app(mode="chat", backend=FakeBackend(settings, gate=gate))
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Вопрос")
        gate.release()
        answer = answers(app)[0]
        await until(pilot, lambda: answer.text == ANSWER[0])
        await pilot.press("escape")
        await settled(pilot)
        assert answer.text == ANSWER[0]
        assert "остановлено" in str(answer.query_one(".answer-facts").render())
        message = stored(app, settings)[-1]
        assert message.stats.stopped_by == "cancelled" and message.text == ANSWER[0]


async def test_errors_are_notifications_not_crashes(make_app, settings):
    backend = FakeBackend(settings, reply_error="generation failed: prompt too long")
    app = make_app(mode="chat", backend=backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Вопрос")
        await settled(pilot)
        assert ("generation failed: prompt too long", "error") in notes(app)
        backend.reply_error = None
        backend.fail_after = 2  # breaks mid-stream: what was shown stays
        await send(pilot, "Ещё")
        await settled(pilot)
        assert answers(app)[-1].text == "".join(ANSWER[:2])
        assert any("fake model broke" in m for m, s in notes(app) if s == "error")
        assert stored(app, settings)[-1].complete is False
        assert app.is_running


async def test_a_model_that_fails_to_load_is_a_notification(make_app, settings):
    backend = FakeBackend(settings, load_error="cannot load model 'x' from /nowhere")
    app = make_app(mode="chat", backend=backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert ("cannot load model 'x' from /nowhere", "error") in notes(app)
        assert "модель не загружена" in str(app.query_one("#status-model").render())


async def test_chat_mode_sends_earlier_turns(make_app, settings):
    backend = FakeBackend(settings)
    app = make_app(mode="chat", backend=backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Первый")
        await settled(pilot)
        await send(pilot, "Второй")
        await settled(pilot)
        first, second = backend.requests
        assert first.turns == [] and [t.question for t in second.turns] == ["Первый"]
        assert second.turns[0].answer == "".join(ANSWER)


async def test_a_second_question_waits_for_the_first_answer(make_app, settings):
    gate = threading.Semaphore(0)
    app = make_app(mode="chat", backend=FakeBackend(settings, gate=gate))
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Первый")
        await send(pilot, "Второй")
        assert app.prompt.text == "Второй"  # kept, not lost
        assert any("ещё отвечает" in m for m, _ in notes(app))
        gate.release(20)
        await settled(pilot)


# ----- 3. sources ------------------------------------------------------------
async def test_documents_answer_lists_sources_and_opens_passages(make_app):
    app = make_app(mode="documents")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Когда основан Петербург?")
        await settled(pilot)
        panel = app.query_one(SourcesPanel)
        options = panel.query_one(OptionList)
        assert panel.display and options.option_count == 2
        assert "[1] Петербург" in str(options.get_option_at_index(0).prompt)
        # A citation link in the answer opens its passage.
        answer = answers(app)[0]
        assert "[[1](cite:1)]" in answer.body.source
        answer.body.post_message(Markdown.LinkClicked(answer.body, "cite:2"))
        await opened(pilot, PassageScreen, "#passage-text")
        assert app.screen.documents[app.screen.index].n == 2
        await pilot.press("right")
        assert app.screen.index == 0
        await pilot.press("escape")
        # The side panel: Tab to it, Enter opens the highlighted source.
        options.focus()
        await pilot.press("down", "enter")
        await opened(pilot, PassageScreen, "#passage-text")
        assert app.screen.index == 1
        await pilot.press("escape")
        # In the conversation, a digit opens that source of the selected answer.
        app.query_one(ChatLog).focus()
        await pilot.press("1")
        await opened(pilot, PassageScreen, "#passage-text")
        assert app.screen.index == 0


async def test_two_chunks_of_one_file_are_one_source_and_its_evidence_is_marked(make_app,
                                                                                   settings):
    pieces = ["Основан в 1703 году [1]. ", "Белые ночи [3][1]. ", "Столица — Москва [2]."]
    app = make_app(mode="documents",
                   backend=CheckingBackend(settings, sources=SPB, pieces=pieces))
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "Когда основан Петербург?")
        await settled(pilot)
        panel = app.query_one(SourcesPanel)
        options = panel.query_one(OptionList)
        assert options.option_count == 2  # spb.md once, with both of its passages
        assert "2 фрагм." in str(options.get_option_at_index(0).prompt)
        assert str(options.get_option_at_index(1).prompt).startswith("[2] Москва")
        body = answers(app)[0].body.source
        assert "Белые ночи [[1](cite:1)]." in body and "Москва [[2](cite:2)]" in body
        assert "cite:3" not in body
        assert "белые ночи" in str(panel.query_one(".panel-passage").render())
        # the check's badge carries its report: its evidence window is marked in the
        # passage it came from once the check is done
        badge = answers(app)[0].grounding
        assert badge.checked and badge.label == f"опора {badge.report.score:.2f}"
        assert badge.score == badge.report.score and badge.report.sentences
        assert "Петербург основан в 1703 году Петром Первым." in marked_in_panel(app)
        assert answers(app)[0].text == "".join(pieces)  # on_unsupported = mark: as streamed


async def test_a_repaired_answer_replaces_the_streamed_one_everywhere(make_app, settings):
    pieces = ["Летом в Петербурге белые ночи [3]. ", UNBACKED]
    backend = CheckingBackend(replace(settings, on_unsupported="drop"), sources=SPB,
                              pieces=pieces)
    app = make_app(mode="documents", backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "Расскажи о Петербурге.")
        await settled(pilot)
        answer = answers(app)[0]
        assert answer.text == "Летом в Петербурге белые ночи [3]."
        body = answer.body.source
        assert "белые ночи [[1](cite:1)]" in body and "Луна" not in body  # document numbers
        facts = str(answer.query_one(".answer-facts").render())
        assert "исправлено" in facts and answer.grounding.note.startswith("убрано 1")
        assert "Летом в Петербурге белые ночи." in marked_in_panel(app)
        assert stored(app, settings)[-1].text == answer.text  # the history has it
        await send(pilot, "А что ещё?")
        await settled(pilot)
        assert backend.requests[-1].turns[-1].answer == answer.text  # the follow-up sees it
    app = make_app(mode="documents", backend=backend, resume=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(answers(app)) == 2)
        assert answers(app)[0].text == "Летом в Петербурге белые ночи [3]."
        assert "Луна" not in answers(app)[0].body.source


async def test_escape_during_the_check_stops_a_second_try(make_app, settings):
    backend = CheckingBackend(replace(settings, on_unsupported="retry"), sources=SPB,
                              pieces=[UNBACKED], second=["Москва — столица России [2]."],
                              second_gate=threading.Semaphore(1))
    app = make_app(mode="documents", backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "Расскажи о городах.")  # the gate lets this second try through
        await settled(pilot)
        retried = answers(app)[0]
        assert retried.text == "Москва — столица России [2]." and "переписан" in retried.grounding.note
        backend.retrying.clear()
        await send(pilot, "Расскажи ещё.")  # this one waits at the gate
        await until(pilot, backend.retrying.is_set)
        assert app.job is None  # streaming is over: only the check's second try runs
        await pilot.press("escape")
        kept = answers(app)[1]
        try:
            await until(pilot, lambda: kept.grounding is not None and kept.grounding.checked)
        finally:
            backend.second_gate.release(5)  # a try Esc did not stop must not hang the test
        await settled(pilot)
        assert kept.text == UNBACKED and "повторный ответ остановлен" in kept.grounding.note
        assert stored(app, settings)[-1].text == UNBACKED and not app.checking


async def test_a_documents_follow_up_is_read_in_its_conversation(make_app, settings):
    app = make_app(mode="documents")
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "Когда основан Петербург?")
        await settled(pilot)
        await send(pilot, "А кто его основал?")
        await settled(pilot)
        first, second = app.backend.requests
        assert first.turns == []
        [turn] = second.turns
        assert turn.question == "Когда основан Петербург?" and turn.answer.startswith("**Петербург")
        assert turn.sources == tuple(app.backend.sources)  # they stay candidates
        follow = answers(app)[1]
        assert follow.searched is not None and "Петербург" in follow.searched
        assert f"искал: «{follow.searched}»" in str(follow.query_one(".answer-facts").render())
        assert answers(app)[0].searched is None
        assert stored(app, settings)[3].searched == follow.searched


async def test_clicking_a_citation_opens_its_passage(make_app):
    app = make_app(mode="documents")
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "Когда основан Петербург?")
        await settled(pilot)
        body = answers(app)[0].body
        paragraph = body.children[0]
        line = paragraph.visual_style and str(paragraph.render())
        assert "[1]" in line
        # Click where "[1]" is drawn in the first line of the answer.
        column = line.splitlines()[0].index("[1]") + 1
        await pilot.click(paragraph, offset=(column, 0))
        await opened(pilot, PassageScreen, "#passage-text")
        assert app.screen.index == 0


async def test_passage_marks_the_question_words(make_app):
    app = make_app(mode="documents")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Когда основан Петербург?")
        await settled(pilot)
        app.open_passage(answers(app)[0], 1)
        await pilot.pause()
        text = app.screen.query_one("#passage-text").render()
        marked = {str(text)[span.start:span.end] for span in text.spans}
        assert {"Петербург", "основан"} <= marked


async def test_side_panel_previews_the_highlighted_passage(make_app):
    app = make_app(mode="documents")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Когда основан Петербург?")
        await settled(pilot)
        panel = app.query_one(SourcesPanel)
        preview = panel.query_one(".panel-passage").render()
        assert str(preview).startswith("Петербург основан в 1703")
        assert {str(preview)[s.start:s.end] for s in preview.spans} == {"Петербург", "основан"}
        assert "spb.md · место 1 · 1.00" in str(panel.query_one(OptionList).get_option_at_index(0).prompt)
        panel.query_one(OptionList).focus()
        await pilot.press("down")
        assert str(panel.query_one(".panel-passage").render()).startswith("Москва — столица")


async def test_answer_carries_retrieval_scores_as_its_badge(make_app):
    app = make_app(mode="documents")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Когда основан Петербург?")
        await settled(pilot)
        answer = answers(app)[0]
        assert answer.grounding is not None and not answer.grounding.checked
        # the best document's relevance (index.fusion.fused_relevance), not the raw RRF score
        assert "поиск: 1.00" in str(answer.query_one(".answer-facts").render())
        assert answer.grounding.detail.endswith("[1…2]: 1.00, 0.49")


async def test_up_and_down_select_answers_and_the_panel_follows(make_app):
    app = make_app(mode="documents")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Первый")
        await settled(pilot)
        await pilot.press("f2", "f2")  # documents -> poem -> chat
        assert app.session.mode == "chat"
        await send(pilot, "Второй")
        await settled(pilot)
        log = app.query_one(ChatLog)
        assert log.selected is answers(app)[1]
        log.focus()
        await pilot.press("up")
        assert log.selected is answers(app)[0]
        assert app.query_one(SourcesPanel).query_one(OptionList).option_count == 2


# ----- 4. modes --------------------------------------------------------------
async def test_modes_switch_by_key_by_command_and_by_palette(make_app):
    app = make_app(mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        assert app.session.mode == "documents"
        await pilot.press("f2")
        assert app.session.mode == "poem"
        await send(pilot, "/mode чат")
        assert app.session.mode == "chat" and app.prompt.text == ""
        await send(pilot, "/mode documents")
        assert app.session.mode == "documents"
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Режим: Стихи")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: app.session.mode == "poem")
        assert "Стихи" in str(app.query_one("#mode-bar").render())


async def test_modes_switch_by_mouse(make_app):
    app = make_app(mode="documents")
    async with app.run_test(size=(80, 24)) as pilot:
        line = str(app.query_one("#mode-bar").render())
        await pilot.click("#mode-bar", offset=(line.index("Чат") + 1, 0))
        assert app.session.mode == "chat"
        await pilot.click("#mode-bar", offset=(line.index("Стихи") + 1, 0))
        assert app.session.mode == "poem"


async def test_poem_mode_picks_an_author_with_type_ahead(make_app, settings):
    backend = FakeBackend(settings)
    app = make_app(mode="poem", backend=backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: bool(app.authors))
        await send(pilot, "Зимний вечер")  # no author yet: the picker opens
        await opened(pilot, AuthorScreen, "#author-list")
        await pilot.press(*"лерм")
        options = app.screen.query_one(OptionList)
        assert options.option_count == 1
        await pilot.press("enter")
        assert app.session.author == "Михаил Лермонтов"
        assert app.prompt.text == "Зимний вечер"  # the title waited in the box
        await pilot.press("f4")
        await opened(pilot, AuthorScreen, "#author-list")
        await pilot.press(*"алекс", "down", "enter")  # two Alexanders: take the second
        assert app.session.author == "Александр Блок"
        app.prompt.clear()
        await send(pilot, "/author пушкин")
        assert app.session.author == "Александр Пушкин"
        await send(pilot, "Зимний вечер")
        await settled(pilot)
        request = backend.requests[-1]
        assert request.mode == "poem" and request.author == "Александр Пушкин"
        assert request.text == "Зимний вечер"
        answer = answers(app)[0]
        assert answer.text == "".join(POEM)
        assert "  \n" in answer.body.source  # poem lines keep their breaks
        facts = str(answer.query_one(".answer-facts").render())
        assert "образцы: «Зимнее утро», «Зимняя дорога»" in facts
        assert "Образцы стиля" in str(app.query_one(".panel-title").render())


async def test_a_poem_form_is_asked_for_and_its_outcome_shown(make_app, settings):
    backend = FakeBackend(settings)
    app = make_app(mode="poem", backend=backend, author="Александр Пушкин")
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "/form abab ямб 4 2")
        assert app.session.form == FormAsk("ABAB", "ямб", 4, 2)
        assert any("ABAB, ямб 4, строф: 2" in m for m, _ in notes(app))
        await send(pilot, "Зимний вечер")
        await settled(pilot)
        assert backend.requests[-1].form == FormAsk("ABAB", "ямб", 4, 2)
        facts = str(answers(app)[0].query_one(".answer-facts").render())
        assert "форма: ABAB ямб 4 → ABAB, ямб 4; рифма в 4 из 4 строк, размер в 3" in facts
        await send(pilot, "/form хорей?")
        assert app.session.form == FormAsk("ABAB", "ямб", 4, 2)  # a bad word changes nothing
        assert any("unknown metre" in m for m, _ in notes(app))
        await send(pilot, "/form auto")
        assert app.session.form == FormAsk("auto", "auto")
        await send(pilot, "/form off")
        await send(pilot, "Зимний вечер")
        await settled(pilot)
        assert app.session.form is None and backend.requests[-1].form is None
        assert "форма:" not in str(answers(app)[1].query_one(".answer-facts").render())


async def test_an_author_outside_the_index_is_allowed_with_a_warning(make_app):
    app = make_app(mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: bool(app.authors))
        await send(pilot, "/author Иван Бунин")
        assert app.session.author == "Иван Бунин" and app.session.mode == "poem"
        assert any("без образцов" in m for m, _ in notes(app))


# ----- 5. commands -----------------------------------------------------------
async def test_index_runs_in_the_background_and_chat_stays_usable(make_app, settings, tmp_path):
    gate = threading.Event()
    backend = FakeBackend(settings, index_gate=gate)
    app = make_app(mode="chat", backend=backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, f"/index {tmp_path} poems --ruslit")
        await until(pilot, lambda: "индексация" in str(app.query_one("#status-task").render()))
        await send(pilot, "Пока индексируется")
        await until(pilot, lambda: app.job is None)
        assert answers(app)[0].text == "".join(ANSWER)
        gate.set()
        await until(pilot, lambda: app.indexing is None)
        assert backend.index_calls == [(tmp_path, "poems", "ruslit")]
        assert app.session.index_name == "poems"
        assert any("Добавлено 3" in m for m, _ in notes(app))
        assert str(app.query_one("#status-task").render()) == ""


async def test_index_failure_is_a_notification(make_app, settings):
    class Failing(FakeBackend):
        def index(self, *args):
            from index.errors import ReaderError

            raise ReaderError("no such file or folder: /nowhere")

    app = make_app(mode="chat", backend=Failing(settings))
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "/index /nowhere")
        await until(pilot, lambda: app.indexing is None and notes(app))
        assert ("no such file or folder: /nowhere", "error") in notes(app)


async def test_unknown_command_and_missing_arguments(make_app):
    app = make_app(mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "/frobnicate")
        assert any("Неизвестная команда /frobnicate" in m for m, _ in notes(app))
        assert app.prompt.text == "/frobnicate"  # kept for fixing
        app.prompt.clear()
        await send(pilot, "/index")
        assert any("Укажите путь" in m for m, _ in notes(app))
        await send(pilot, "//index это сообщение")
        await settled(pilot)
        assert app.query_one(UserMessage).text == "/index это сообщение"


async def test_export_writes_markdown_with_sources(make_app, settings, tmp_path):
    app = make_app(mode="documents")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "/export")
        assert any("Нечего сохранять" in m for m, _ in notes(app))
        await send(pilot, "Когда основан Петербург?")
        await settled(pilot)
        target = tmp_path / "out" / "talk.md"
        await send(pilot, f"/export {target}")
        text = target.read_text(encoding="utf-8")
        assert "## Когда основан Петербург?" in text
        assert "Петербург** основан в 1703 году" in text
        assert "**Источники**" in text
        assert "1. «Петербург» — `/docs/spb.md` (место 1, релевантность 1.00)" in text
        assert "> Петербург основан в 1703 году Петром Первым." in text
        await send(pilot, "/export")
        assert (settings.home / "exports" / f"lira-{app.session.conversation_id}.md").is_file()


async def test_copy_puts_the_last_answer_on_the_clipboard(make_app):
    app = make_app(mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "/copy")
        assert any("Ещё нет ответа" in m for m, _ in notes(app))
        await send(pilot, "Вопрос")
        await settled(pilot)
        await send(pilot, "/copy")
        assert app.clipboard == "".join(ANSWER).strip()


async def test_settings_dialog_changes_the_session(make_app, settings):
    backend = FakeBackend(settings)
    app = make_app(mode="documents", backend=backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "/settings")
        await opened(pilot, SettingsScreen, "#set-k")
        screen = app.screen
        screen.query_one("#set-k").value = "2"
        screen.query_one("#set-max_new_tokens").value = "64"
        screen.query_one("#set-temperature").value = "0.5"
        screen.query_one("#set-decoding-num_beams").value = "4"
        screen.query_one("#set-decoding-top_p").value = "0.9"
        screen.query_one("#set-adapter").value = "нет"
        screen.query_one("#set-index").value = "books"
        screen.query_one("#save").press()
        await until(pilot, lambda: not isinstance(app.screen, SettingsScreen))
        assert (app.session.k, app.session.max_new_tokens, app.session.temperature) == (2, 64,
                                                                                        0.5)
        assert app.session.adapters["chat"] == "none" and app.session.index_name == "books"
        await send(pilot, "Вопрос")
        await settled(pilot)
        request = backend.requests[-1]
        assert (request.k, request.max_new_tokens, request.adapter,
                request.index_name) == (2, 64, "none", "books")
        # the seed 001 style: beams, and top-p that turns sampling on; the rest as preset
        assert request.decoding.overrides() == {"do_sample": True, "top_p": 0.9, "num_beams": 4}


async def test_settings_dialog_refuses_bad_values(make_app):
    app = make_app(mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_settings()
        await opened(pilot, SettingsScreen, "#set-k")
        app.screen.query_one("#set-k").value = "500"
        app.screen.query_one("#save").press()
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        assert any("недопустимое значение «500»" in m for m, _ in notes(app))
        app.screen.query_one("#set-k").value = "4"
        app.screen.query_one("#set-decoding-num_beams").value = "40"
        app.screen.query_one("#save").press()
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        assert any("лучей, 1–16: недопустимое значение «40»" in m for m, _ in notes(app))
        await pilot.press("escape")
        assert app.session.k == 4 and app.session.decoding.num_beams is None


async def test_help_shows_keys_and_commands(make_app):
    app = make_app(mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await opened(pilot, HelpScreen, "#help-text")
        source = app.screen.query_one("#help-text", Markdown).source
        for needle in ("Ctrl+J", "Esc", "F2", "/index", "/export", "/copy", "/settings"):
            assert needle in source
        await pilot.press("escape")
        await send(pilot, "/help")
        assert isinstance(app.screen, HelpScreen)


async def test_footer_shows_the_main_keys(make_app):
    app = make_app(mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = {b.description for _, b, enabled, _ in app.screen.active_bindings.values()
                 if b.show}
        assert {"Перенос", "Выход", "Стоп", "Справка", "Режим", "История", "Команды"} <= shown


# ----- 6. history ------------------------------------------------------------
async def test_partial_answer_is_saved_while_it_streams(make_app, settings):
    gate = threading.Semaphore(0)
    app = make_app(mode="chat", backend=FakeBackend(settings, gate=gate))
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Вопрос")
        gate.release(2)
        answer = answers(app)[0]
        await until(pilot, lambda: answer.text == "".join(ANSWER[:2]))
        await pilot.pause(0.6)
        gate.release()  # the next piece comes after SAVE_EVERY_S: it is written at once
        await until(pilot, lambda: stored(app, settings)[-1].text == "".join(ANSWER[:3]))
        message = stored(app, settings)[-1]
        assert message.role == "assistant" and message.complete is False
        gate.release(10)
        await settled(pilot)
        message = stored(app, settings)[-1]
        assert message.complete and message.text == "".join(ANSWER)
        assert message.stats.new_tokens == len(ANSWER) and message.model.model == "fake-model"


async def test_quitting_mid_answer_keeps_what_was_shown(make_app, settings):
    gate = threading.Semaphore(0)
    app = make_app(mode="chat", backend=FakeBackend(settings, gate=gate))
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Вопрос")
        gate.release()
        await until(pilot, lambda: answers(app)[0].text == ANSWER[0])
        conversation_id = app.session.conversation_id
        await pilot.press("ctrl+q")
    history = History.open(settings.home / "history.sqlite")
    message = history.messages(conversation_id)[-1]
    assert message.text == ANSWER[0] and message.complete is False


async def test_quitting_during_a_model_load_reports_it_unfinished(make_app, settings):
    backend = FakeBackend(settings)
    backend.loaded.clear()
    app = make_app(mode="chat", backend=backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: bool(app.loading))
        await pilot.press("ctrl+q")
    assert app.unfinished_work() == ["model load"]  # the CLI ends the process without it
    backend.loaded.set()


async def test_ctrl_c_quits(make_app):
    app = make_app(mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+c")
        assert app._exit  # exit requested (Textual's own flag)


async def test_new_history_open_and_delete(make_app, settings):
    app = make_app(mode="documents")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Когда основан Петербург?")
        await settled(pilot)
        first = app.session.conversation_id
        await pilot.press("ctrl+n")
        assert answers(app) == [] and app.session.conversation_id is None
        await send(pilot, "/mode чат")
        await send(pilot, "Второй разговор")
        await settled(pilot)
        second = app.session.conversation_id
        assert second != first
        await pilot.press("f3")
        await opened(pilot, HistoryScreen, "#history-list")
        options = app.screen.query_one(OptionList)
        assert options.option_count == 2
        await pilot.press("down", "enter")  # the older one
        await until(pilot, lambda: app.session.conversation_id == first)
        assert app.session.mode == "documents"
        [answer] = answers(app)
        assert answer.text == "".join(ANSWER) and len(answer.sources) == 2
        assert "[[1](cite:1)]" in answer.body.source
        # Delete the second conversation: Del asks, Del again deletes.
        await send(pilot, "/history")
        await opened(pilot, HistoryScreen, "#history-list")
        await pilot.press("delete")
        assert app.screen.query_one(OptionList).option_count == 2
        await pilot.press("delete")
        assert app.screen.query_one(OptionList).option_count == 1
        await pilot.press("escape")
        titles = [c.title for c in app.history.conversations()]
        assert titles == ["Когда основан Петербург?"]


async def test_resume_opens_the_last_conversation(make_app, settings):
    history = History.open(settings.home / "history.sqlite")
    conversation = history.create_conversation("chat", "Прошлый")
    history.add_question(conversation, "Старый вопрос", "chat")
    answer_id = history.start_answer(conversation, "chat")
    history.save_partial(answer_id, "Недописанный отв")  # the app was killed here
    history.close()
    app = make_app(mode="documents", resume=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.session.conversation_id == conversation)
        assert app.session.mode == "chat"
        [answer] = answers(app)
        assert answer.text == "Недописанный отв" and answer.question == "Старый вопрос"
        assert "прервано" in str(answer.query_one(".answer-facts").render())
        await send(pilot, "Продолжим")
        await settled(pilot)
        assert len(stored(app, settings)) == 4


# ----- 7. look ---------------------------------------------------------------
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_layout_fits_the_terminal(make_app, size):
    app = make_app(mode="documents")
    async with app.run_test(size=size) as pilot:
        await send(pilot, "Когда основан Петербург?")
        await settled(pilot)
        width, height = size
        for selector in ("#mode-bar", "ChatLog", "SourcesPanel", "PromptArea", "StatusBar",
                         "Footer"):
            region = app.query_one(selector).region
            assert region.width > 0 and region.height > 0, selector
            assert region.right <= width and region.bottom <= height, selector
        assert app.query_one("ChatLog").region.width >= 40


async def test_theme_toggles_between_dark_and_light(make_app):
    app = make_app(mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.current_theme.dark
        await pilot.press("ctrl+t")
        assert not app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark


async def test_a_selection_posted_as_the_app_closes_is_ignored(make_app):
    # a resumed chat selects its last answer; the app may close before that message is read
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.chat_log.remove()
        app.post_message(ChatLog.SelectionChanged(None))
        await pilot.pause()
    assert app.return_code in (None, 0)


@dataclass
class SlowCheckBackend(FakeBackend):
    """A fake whose check waits for ``check_gate`` (set ``checking`` when it starts)."""

    check_gate: threading.Event = field(default_factory=threading.Event)
    checking: threading.Event = field(default_factory=threading.Event)

    def grounding(self, reply: Reply, text: str):
        self.checking.set()
        self.check_gate.wait(10)
        return super().grounding(reply, text)


async def test_a_check_that_ends_after_the_log_is_gone_is_ignored(make_app, settings):
    # the check runs in a thread: the app may be closing when its badge comes back
    backend = SlowCheckBackend(settings)
    app = make_app(backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "Когда основан Петербург?")
        await until(pilot, backend.checking.is_set)
        await app.chat_log.remove()
        backend.check_gate.set()
        await until(pilot, lambda: not app.checking)
    assert app.return_code in (None, 0)
