"""LiraApp: the Textual chat app.

The window paints at once; models load in a thread worker while the message
box is already usable (a question sent early waits for the model).  All
model work goes through the Backend from thread workers, whose results come
back as messages (assistant.tui.jobs).  Answers stream into Markdown and are
saved to the history as they stream.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer

from assistant.chat.backend import Backend, Reply, ReplyRequest, profile_of, retrieval_badge
from assistant.chat.history import (
    HISTORY_FILE,
    AnswerStats,
    History,
    HistoryError,
    ModelUsed,
    StoredMessage,
)
from assistant.chat.modes import Mode, stored_mode
from assistant.settings import Settings
from assistant.source_groups import SourceGroups
from assistant.tui import jobs
from assistant.tui.command_dispatch import run_slash_command
from assistant.tui.commands import (
    CommandError,
    is_command,
    parse_command,
    unescape_message,
)
from assistant.tui.export import conversation_markdown
from assistant.tui.palette import LiraCommands
from assistant.tui.screens.author import AuthorScreen
from assistant.tui.screens.help import HelpScreen
from assistant.tui.screens.history import HistoryScreen
from assistant.tui.screens.passage import PassageScreen
from assistant.tui.screens.settings import SettingsChange, SettingsScreen
from assistant.tui.session import Session, form_line, next_mode
from assistant.tui.widgets.chat_log import AnswerView, ChatLog, UserMessage
from assistant.tui.widgets.mode_bar import ModeBar
from assistant.tui.widgets.prompt import PromptArea
from assistant.tui.widgets.sources import SourcesPanel
from assistant.tui.widgets.status import StatusBar

SAVE_EVERY_S = 0.5  # how often a streaming answer is written to the history
# How often streamed text reaches the screen.  Rendering Markdown on every token
# took the GIL from generation often enough to cost about a fifth of its speed.
SHOW_EVERY_S = 0.1
DARK, LIGHT = "textual-dark", "textual-light"

PLACEHOLDERS = {
    Mode.CHAT: "Сообщение… (Enter — отправить, Ctrl+J — новая строка, / — команды)",
    Mode.DOCUMENTS: "Вопрос по документам… (Enter — отправить, Ctrl+J — новая строка)",
    Mode.POEM: "Название стихотворения… (Enter — написать, F4 — автор)",
}


class LiraApp(App[None]):
    """Chat, documents and poem modes over one Backend, with history."""

    CSS_PATH = "lira.tcss"
    TITLE = "Лира"
    COMMANDS = {LiraCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Выход", priority=True),
        Binding("ctrl+c", "quit", "Выход", show=False, priority=True),
        Binding("escape", "stop", "Стоп"),
        Binding("f1", "help", "Справка"),
        Binding("f2", "cycle_mode", "Режим"),
        Binding("f3", "history", "История"),
        Binding("f4", "pick_author", "Автор", show=False),
        Binding("ctrl+n", "new_conversation", "Новый", show=False),
        Binding("ctrl+t", "toggle_theme", "Тема", show=False),
        Binding("ctrl+p", "command_palette", "Команды", priority=True),
    ]

    def __init__(self, settings: Settings, backend: Backend, *, mode: str = Mode.CHAT,
                 index_name: str | None = None, author: str | None = None,
                 adapter: str | None = None, resume: bool = False,
                 history: History | None = None, theme: str = "dark",
                 cursor_blink: bool = True) -> None:
        super().__init__()
        profile_of(mode)  # rejects an unknown mode before anything is drawn
        self.settings = settings
        self.backend = backend
        self.session = Session.from_settings(settings, mode, index_name, author, adapter)
        self.history: History | None = history
        self.resume = resume
        self.cursor_blink = cursor_blink
        self.theme = LIGHT if theme == "light" else DARK
        self.job: jobs.ReplyJob | None = None
        # replies whose check (and on_unsupported's second try) runs after they streamed:
        # Esc stops such a try through the reply's cancel event
        self.checking: list[Reply] = []
        self.models: dict[tuple[str, str | None], ModelUsed] = {}
        self.model_errors: dict[tuple[str, str | None], str] = {}
        self.authors: list[tuple[str, int]] = []
        self.indexing: str | None = None  # name of the index being built
        self.last_stats = None
        self.loading: set[tuple[str, str | None]] = set()  # (profile, adapter) loads running
        self._show_timer = None
        self._history_warned = False

    # ----- layout ------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield ModeBar(id="mode-bar")
        with Horizontal(id="main"):
            yield ChatLog(id="chat-log")
            yield SourcesPanel(id="sources")
        yield PromptArea(PLACEHOLDERS[self.session.mode], cursor_blink=self.cursor_blink,
                         id="prompt")
        yield StatusBar(id="status")
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        if self.history is None:
            self.history = self._open_history()
        self._show_session()
        self.prompt.focus()
        if self.resume:
            latest = self._store(self.history.latest)  # a damaged history: a notice, no resume
            if latest is not None:
                self.call_later(self.open_conversation, latest.id)
        # Loading imports torch in a worker thread; started before the first paint it
        # would compete with it for the GIL.
        self.call_after_refresh(self._start_background_work)

    def _start_background_work(self) -> None:
        self._ensure_model()
        self._refresh_authors()

    def _open_history(self) -> History:
        try:
            return History.open(self.settings.home / HISTORY_FILE)
        except (HistoryError, OSError, sqlite3.Error) as exc:
            self.notify(f"{exc}. История этого сеанса не сохранится.",
                        title="История недоступна", severity="error", timeout=10)
            return History.open(Path(":memory:"))

    @property
    def prompt(self) -> PromptArea:
        return self.query_one(PromptArea)

    @property
    def chat_log(self) -> ChatLog:
        return self.query_one(ChatLog)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    def _show_session(self) -> None:
        """Bring the mode bar, placeholder, panel and model status in line with the session."""
        self.query_one(ModeBar).show(self.session)
        self.prompt.placeholder = PLACEHOLDERS[self.session.mode]
        self._update_panel()
        self._show_model_status()

    def _update_panel(self) -> None:
        if not self.query(ChatLog) or not self.query(SourcesPanel):
            return  # called from a message read as the app closed: the widgets are gone
        selected = self.chat_log.selected
        panel = self.query_one(SourcesPanel)
        groups = selected.groups if selected is not None else SourceGroups()
        panel.show(groups, selected.mode if selected is not None else self.session.mode,
                   selected.question if selected is not None else "")
        panel.display = self.session.mode != Mode.CHAT or bool(groups.documents)

    def _show_model_status(self) -> None:
        key = (self.session.profile, self.session.adapter)
        if key in self.models:
            self.status.ready(self.models[key])
        elif key in self.model_errors:
            self.status.failed()
        else:
            self.status.loading()

    # ----- models ------------------------------------------------------------
    def _ensure_model(self) -> None:
        """Load the current mode's model in the background unless it is loaded."""
        key = (self.session.profile, self.session.adapter)
        if key in self.models:
            self.status.ready(self.models[key])
            return
        self.model_errors.pop(key, None)
        self.status.loading()
        if key in self.loading:
            return
        self.loading.add(key)
        self.run_worker(partial(jobs.load_job, self.backend, self.session.mode,
                                self.session.adapter, self.post_message),
                        thread=True, group="load", exit_on_error=False)

    def on_model_ready(self, message: jobs.ModelReady) -> None:
        key = (profile_of(message.mode), message.adapter)
        self.loading.discard(key)
        self.models[key] = message.model
        self._show_model_status()

    def on_model_failed(self, message: jobs.ModelFailed) -> None:
        key = (profile_of(message.mode), message.adapter)
        self.loading.discard(key)
        self.model_errors[key] = message.error
        self._show_model_status()
        self.notify(message.error, title="Модель не загружена", severity="error", timeout=10)

    def _model_ready(self) -> bool:
        return (self.session.profile, self.session.adapter) in self.models

    # ----- sending -----------------------------------------------------------
    async def on_prompt_area_submitted(self, event: PromptArea.Submitted) -> None:
        text = event.text
        if is_command(text):
            await self.run_command(text)
        elif await self.ask(unescape_message(text)):
            self.prompt.clear()

    async def ask(self, text: str) -> bool:
        """Send a question (or a poem title); False if it cannot be sent now."""
        if self.job is not None:
            self.notify("Лира ещё отвечает: дождитесь конца или нажмите Esc.",
                        severity="warning")
            return False
        session = self.session
        if session.mode == Mode.POEM and not session.author:
            self.notify("Сначала выберите автора: F4 или /author ИМЯ.", severity="warning")
            self.action_pick_author()
            return False
        request = ReplyRequest(mode=session.mode, text=text,
                               turns=() if session.mode == Mode.POEM
                               else self.chat_log.turns(session.mode),
                               index_name=session.index_name, author=session.author,
                               k=session.k, max_new_tokens=session.max_new_tokens,
                               temperature=session.temperature, adapter=session.adapter,
                               decoding=session.decoding,
                               form=session.form if session.mode == Mode.POEM else None)
        author = session.author if session.mode == Mode.POEM else None
        index_name = session.index_name if session.mode != Mode.CHAT else None
        message_id = self._store(self._record_question, text, author, index_name)
        waiting = "Думаю…" if self._model_ready() else "Жду, пока загрузится модель…"
        answer = AnswerView(text, session.mode, waiting=waiting, message_id=message_id)
        self.job = jobs.ReplyJob(request, answer, message_id)
        await self.chat_log.add_exchange(UserMessage(text, session.mode, author), answer)
        self.run_worker(partial(jobs.reply_job, self.backend, self.job, self.post_message),
                        thread=True, group="reply", exit_on_error=False)
        self._show_timer = self.set_interval(SHOW_EVERY_S, self._show_streamed)
        return True

    async def _show_streamed(self) -> None:
        """Append to the answer what streamed in since the last call."""
        job = self.job
        if job is not None and job.shown < len(job.text):
            piece, job.shown = job.text[job.shown:], len(job.text)
            await job.view.write(piece)

    def _record_question(self, text: str, author: str | None,
                         index_name: str | None) -> int:
        """Store the question and an empty answer; returns the answer's id."""
        history, session = self.history, self.session
        if session.conversation_id is None:
            session.conversation_id = history.create_conversation(session.mode,
                                                                  _title(text, session))
        history.add_question(session.conversation_id, text, session.mode, index_name, author)
        return history.start_answer(session.conversation_id, session.mode,
                                    self.models.get((session.profile, session.adapter)),
                                    index_name, author)

    def on_reply_started(self, message: jobs.ReplyStarted) -> None:
        job, reply = message.job, message.reply
        job.view.begin(reply.sources, reply.model, reply.searched)
        self._store(self.history.set_sources, job.message_id, reply.sources)
        if reply.searched:
            self._store(self.history.set_searched, job.message_id, reply.searched)
        self._store(self.history.set_model, job.message_id, reply.model)
        if job.view is self.chat_log.selected:
            self._update_panel()
        if reply.note:
            self._explain_note(job.request, reply.retrieval)

    def _explain_note(self, request: ReplyRequest, retrieval: bool) -> None:
        if request.mode == Mode.DOCUMENTS and not retrieval:
            self.notify(f"Индекс «{request.index_name}» не найден или пуст — отвечаю без "
                        "поиска. Постройте его: /index ПУТЬ", severity="warning", timeout=8)
        elif request.mode == Mode.POEM and not retrieval:
            self.notify(f"В индексе «{request.index_name}» нет стихов автора "
                        f"«{request.author}» — пишу без образцов.", severity="warning")

    def on_reply_piece(self, message: jobs.ReplyPiece) -> None:
        job = message.job
        job.text += message.text  # shown by _show_streamed
        now = time.monotonic()
        if now - job.saved_at >= SAVE_EVERY_S:
            job.saved_at = now
            self._store(self.history.save_partial, job.message_id, job.text)

    async def on_reply_ended(self, message: jobs.ReplyEnded) -> None:
        job = message.job
        await self._show_streamed()
        self._show_timer.stop()
        stats = message.stats
        if message.error is not None:
            stats = stats or AnswerStats()
            stats.stopped_by = "error"
        self._store(self.history.finish_answer, job.message_id, job.text, stats,
                    message.error is None)
        checking = bool(job.view.sources and job.request.mode == Mode.DOCUMENTS
                        and message.error is None)
        badge = retrieval_badge(job.view.sources) if checking else None
        if message.form is not None:
            job.view.form = form_line(message.form)
        await job.view.finish(stats, badge)
        if checking:
            self.checking.append(job.reply)
            self._check_answer(job.view, job.reply, job.text)
        if message.error is not None:
            self.notify(message.error, title="Ошибка", severity="error", timeout=10)
        if stats is not None and stats.new_tokens:
            self.last_stats = stats
            self.status.speed(stats)
        if self.job is job:
            self.job = None

    @work(thread=True, group="checks")
    def _check_answer(self, view, reply: Reply, text: str) -> None:
        """Judge a finished answer against its sources off the UI thread, then show the badge."""
        try:
            grounding = self.backend.grounding(reply, text)
        except Exception as exc:  # noqa: BLE001  (a failed check must not end the chat)
            self.call_from_thread(self.notify, f"Проверка не удалась: {exc}", severity="warning")
            grounding = None
        self.call_from_thread(self._show_grounding, view, reply, grounding)

    async def _show_grounding(self, view, reply: Reply, grounding) -> None:
        self.checking = [r for r in self.checking if r is not reply]
        if grounding is None:
            return
        if grounding.text is not None and view.message_id is not None:
            # the repaired answer is the one a reloaded conversation and follow-ups see
            self._store(self.history.save_partial, view.message_id, grounding.text)
        if not view.is_attached:
            return  # the check ended as the app closed (or the chat was cleared): nothing to show
        await view.set_grounding(grounding)
        if view is self.chat_log.selected:  # its evidence is marked in the panel
            self._update_panel()

    def _store(self, write: Callable, *args):
        """Run a history write; a failing disk costs the history, not the chat."""
        try:
            return write(*args)
        except sqlite3.Error as exc:
            if not self._history_warned:
                self._history_warned = True
                self.notify(f"История не сохраняется: {exc}", severity="error", timeout=10)
            return None

    def action_stop(self) -> None:
        """Esc: stop the answer being generated, or a second try of one being checked
        (on_unsupported = retry: the first answer is kept); else return to the message box."""
        if self.job is not None:
            self.job.cancel()
        elif self.checking:
            for reply in self.checking:
                reply.cancel()
        else:
            self.prompt.focus()

    def _flush_partial(self) -> None:
        job = self.job
        if job is not None:
            job.cancel()
            self._store(self.history.save_partial, job.message_id, job.text)

    async def action_quit(self) -> None:
        self._flush_partial()
        self.exit()

    def unfinished_work(self) -> list[str]:
        """Background work that cannot be interrupted: a model load, an indexing run.

        Their threads would keep the process alive after the app has closed; what
        they write is transactional, so the CLI may end the process without them.
        """
        work = ["model load"] * bool(self.loading)
        return work + ([f"indexing {self.indexing}"] if self.indexing else [])

    # ----- commands ----------------------------------------------------------
    async def run_command(self, text: str) -> None:
        try:
            command = parse_command(text)
        except CommandError as exc:
            self.notify(str(exc), severity="warning", timeout=8)
            return
        self.prompt.clear()
        await run_slash_command(self, command)

    # ----- modes and authors -------------------------------------------------
    def action_set_mode(self, mode: str) -> None:
        """Switch to ``mode`` (a Mode, or its word from a click or the palette)."""
        mode = Mode(mode)
        self.session.mode = mode
        if self.session.conversation_id is not None:
            self._store(self.history.set_mode, self.session.conversation_id, mode)
        self._show_session()
        self._ensure_model()
        if mode == Mode.POEM:
            self._refresh_authors()

    def action_cycle_mode(self) -> None:
        self.action_set_mode(next_mode(self.session.mode))

    def action_pick_author(self) -> None:
        def chosen(author: str | None) -> None:
            if author:
                self.set_author(author)

        self.push_screen(AuthorScreen(self.authors, self.session.author), chosen)

    def set_author(self, author: str) -> None:
        """Write poems in ``author``'s style (switching to poem mode)."""
        self.session.author = author
        if self.authors and author not in {name for name, _ in self.authors}:
            self.notify(f"Стихов автора «{author}» нет в индексе «{self.session.index_name}»:"
                        " стихи будут без образцов.", severity="warning")
        if self.session.mode != Mode.POEM:
            self.action_set_mode(Mode.POEM)
        else:
            self._show_session()

    def _refresh_authors(self) -> None:
        self.run_worker(partial(jobs.authors_job, self.backend, self.session.index_name,
                                self.post_message),
                        thread=True, group="authors", exit_on_error=False)

    def on_authors_loaded(self, message: jobs.AuthorsLoaded) -> None:
        if message.index_name == self.session.index_name:
            self.authors = message.authors

    # ----- conversations -----------------------------------------------------
    async def action_new_conversation(self) -> None:
        if self.job is not None:
            self.notify("Лира ещё отвечает: дождитесь конца или нажмите Esc.",
                        severity="warning")
            return
        self.session.conversation_id = None
        await self.chat_log.reset()
        self._update_panel()
        self.prompt.focus()

    def action_history(self) -> None:
        screen = HistoryScreen(self.history, self.session.conversation_id)

        async def chosen(conversation_id: int | None) -> None:
            if self.session.conversation_id in screen.deleted and self.job is None:
                await self.action_new_conversation()
            if conversation_id is not None:
                await self.open_conversation(conversation_id)

        self.push_screen(screen, chosen)

    async def open_conversation(self, conversation_id: int) -> None:
        """Show a stored conversation and continue it."""
        if self.job is not None:
            self.notify("Лира ещё отвечает: дождитесь конца или нажмите Esc.",
                        severity="warning")
            return
        conversation = self.history.conversation(conversation_id)
        if conversation is None:
            return
        messages = self.history.messages(conversation_id)
        await self.chat_log.reset()
        widgets = []
        question: StoredMessage | None = None
        for message in messages:
            if message.role == "user":
                question = message
                widgets.append(UserMessage(message.text, message.mode, message.author))
            else:
                widgets.append(AnswerView.from_stored(message, question))
        if widgets:
            self.chat_log.query_one("#welcome").display = False
            await self.chat_log.mount_all(widgets)
        self.session.conversation_id = conversation_id
        self.session.mode = stored_mode(conversation.mode)
        authors = [m.author for m in messages if m.author]
        if authors:
            self.session.author = authors[-1]
        for view in self.chat_log.answers:
            view.show_facts(interrupted=not view.complete)
        self.chat_log.select(self.chat_log.last_answer())
        self.chat_log.scroll_end(animate=False)
        self._show_session()
        self._ensure_model()

    def action_export(self, target: str | None = None) -> None:
        conversation_id = self.session.conversation_id
        if conversation_id is None:
            self.notify("Нечего сохранять: разговор пуст.", severity="warning")
            return
        if self.job is not None:
            self._store(self.history.save_partial, self.job.message_id, self.job.text)
        conversation = self.history.conversation(conversation_id)
        path = (Path(target).expanduser() if target else
                self.settings.home / "exports" / f"lira-{conversation_id}.md")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(conversation_markdown(conversation.title if conversation else "",
                                                  self.history.messages(conversation_id)),
                            encoding="utf-8")
        except OSError as exc:
            self.notify(f"Не удалось сохранить: {exc}", severity="error")
            return
        self.notify(f"Разговор сохранён: {path}", title="Экспорт")

    def action_copy_last(self) -> None:
        answers = [a for a in self.chat_log.answers if a.text.strip()]
        if not answers:
            self.notify("Ещё нет ответа, который можно скопировать.", severity="warning")
            return
        self.copy_to_clipboard(answers[-1].text.strip())
        self.notify("Последний ответ скопирован в буфер обмена.")

    # ----- dialogs -----------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_settings(self) -> None:
        self.push_screen(SettingsScreen(self.session), self.apply_settings)

    def apply_settings(self, change: SettingsChange | None) -> None:
        if change is None:
            return
        session = self.session
        session.k, session.temperature = change.k, change.temperature
        session.max_new_tokens, session.decoding = change.max_new_tokens, change.decoding
        index_changed = change.index_name != session.index_name
        session.index_name = change.index_name
        session.adapters[session.profile] = change.adapter
        self._show_session()
        self._ensure_model()
        if index_changed:
            self._refresh_authors()
        self.notify("Настройки сеанса обновлены.")

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.current_theme.dark else DARK

    def action_start_index_command(self) -> None:
        self.prompt.text = "/index "
        self.prompt.move_cursor(self.prompt.document.end)
        self.prompt.focus()

    # ----- sources -----------------------------------------------------------
    @on(ChatLog.SelectionChanged)
    def _selection_changed(self, event: ChatLog.SelectionChanged) -> None:
        self._update_panel()

    @on(AnswerView.CitationOpened)
    def _citation(self, event: AnswerView.CitationOpened) -> None:
        self.open_passage(event.answer, event.number)

    @on(SourcesPanel.Opened)
    def _source_opened(self, event: SourcesPanel.Opened) -> None:
        if self.chat_log.selected is not None:
            self.open_passage(self.chat_log.selected, event.number)

    def open_passage(self, answer: AnswerView, number: int) -> None:
        documents = answer.groups.documents
        if 1 <= number <= len(documents):
            self.push_screen(PassageScreen(documents, number, answer.question,
                                           examples=answer.mode == Mode.POEM))

    # ----- indexing ----------------------------------------------------------
    def start_index(self, path: Path, name: str, layout: str = "auto") -> None:
        """Index ``path`` into ``name`` in the background; the chat stays usable."""
        if self.indexing is not None:
            self.notify(f"Уже идёт индексация «{self.indexing}».", severity="warning")
            return
        self.indexing = name
        self.status.task(f"индексация «{name}»…")
        self.run_worker(partial(jobs.index_job, self.backend, path, name, layout,
                                self.post_message),
                        thread=True, group="index", exit_on_error=False)

    def on_index_progress(self, message: jobs.IndexProgress) -> None:
        if self.indexing is not None and message.total:
            self.status.task(f"индексация: {message.done}/{message.total} файлов, "
                             f"{message.chunks} фрагм.")

    def on_index_ended(self, message: jobs.IndexEnded) -> None:
        self.indexing = None
        self.status.task("")
        if message.error is not None:
            self.notify(message.error, title="Индексация не удалась", severity="error",
                        timeout=10)
            return
        s = message.summary
        self.notify(f"Добавлено {s.added}, обновлено {s.updated}, удалено {s.removed}, "
                    f"без изменений {s.unchanged}, пропущено {s.skipped}"
                    + (f", частично {s.truncated} (длиннее max_text_chars)" if s.truncated else "")
                    + f"; {s.chunks} фрагм. за {s.seconds:.1f} с.",
                    title=f"Индекс «{s.name}» готов", timeout=8)
        self.session.index_name = s.name
        self._show_session()
        self._refresh_authors()


def _title(text: str, session: Session) -> str:
    first = " ".join(text.split())[:60]
    return f"«{first}» — {session.author}" if session.mode == Mode.POEM else first
