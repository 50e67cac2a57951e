"""The conversation: questions, answers streaming as Markdown, and which answer is selected."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from assistant.chat.backend import Grounding, Turn, retrieval_badge
from assistant.chat.history import AnswerStats, ModelUsed, StoredMessage
from assistant.chat.modes import Mode, stored_mode
from assistant.rag import Source
from assistant.safe_text import one_line, printable
from assistant.source_groups import CitationStream, SourceGroups, group_sources, one_per_source
from assistant.tui.answer_markup import citation_number, link_citations, verse_lines
from assistant.tui.session import MODE_LABELS

STOP_LABELS = {"cancelled": "остановлено", "max tokens": "достигнут предел длины",
               "error": "ошибка", "interrupted": "прервано"}


WELCOME = ("Задайте вопрос и нажмите Enter. F2 — режим (Чат, Документы, Стихи), "
           "F1 — справка, Ctrl+P — команды.")


class UserMessage(Static):
    """A question (or a poem title) as the user typed it."""

    def __init__(self, text: str, mode: str, author: str | None = None) -> None:
        label = "Вы" if mode != Mode.POEM else f"Стих в стиле: {author or '—'}"
        super().__init__(Content.assemble((label, "bold"), "\n", text), classes="user-message")
        self.text = text


class AnswerView(Vertical):
    """One answer: a header, the Markdown body (streamed) and a line of facts under it."""

    class Selected(Message):
        def __init__(self, answer: AnswerView) -> None:
            super().__init__()
            self.answer = answer

    class CitationOpened(Message):
        def __init__(self, answer: AnswerView, number: int) -> None:
            super().__init__()
            self.answer = answer
            self.number = number

    def __init__(self, question: str, mode: Mode, text: str = "",
                 sources: list[Source] | None = None, waiting: str = "",
                 message_id: int | None = None) -> None:
        super().__init__(classes="answer")
        self.question = question
        self.mode = mode
        self.text = text
        self.sources: list[Source] = list(sources or [])
        self.message_id = message_id
        self.model = ModelUsed()
        self.stats: AnswerStats | None = None
        self.grounding: Grounding | None = None
        self.report = None  # the grounding report, whose evidence windows the sources mark
        self.streaming = False
        self.complete = True  # False for an answer broken off by a crash or kill
        self.searched: str | None = None  # a follow-up's standalone query, when rewritten
        self.form: str | None = None  # a form-constrained poem: asked and written form
        self._waiting = waiting
        self._stream: MarkdownStream | None = None
        self._shown: CitationStream | None = None  # renumbers citations while streaming

    def compose(self) -> ComposeResult:
        yield Static(Content.styled(f"Лира · {MODE_LABELS[self.mode]}", "bold"),
                     classes="answer-header")
        yield Static(self._waiting, classes="answer-waiting")
        yield Markdown(self._markdown(self.text, final=True), open_links=False,
                       classes="answer-body")
        yield Static("", classes="answer-facts")

    @classmethod
    def from_stored(cls, message: StoredMessage,
                    question: StoredMessage | None) -> AnswerView:
        """An answer from the history, as it was left (complete or broken off)."""
        mode = stored_mode(message.mode)
        view = cls(question.text if question else "", mode, text=message.text,
                   sources=message.sources, message_id=message.id)
        view.model, view.stats, view.complete = message.model, message.stats, message.complete
        view.searched = message.searched
        if mode == Mode.DOCUMENTS:
            # Stored answers show their retrieval scores; a checked grounding badge
            # would need its own column in the history.
            view.grounding = retrieval_badge(message.sources)
        return view

    @property
    def groups(self) -> SourceGroups:
        """The sources as the panel lists them: one entry per document of a documents
        answer (its citations shown in their numbers), one per style example of a poem."""
        if self.mode == Mode.POEM:
            return one_per_source(self.sources)
        return group_sources(self.sources, self.report)

    @property
    def body(self) -> Markdown:
        return self.query_one(".answer-body", Markdown)

    def _markdown(self, text: str, final: bool) -> str:
        text = printable(text, lines=True)  # a model may echo a passage's ESC sequences
        if self.mode == Mode.POEM:
            return verse_lines(text)
        if not final or not self.sources:
            return text
        groups = self.groups
        return link_citations(groups.renumber(text), len(groups.documents))

    # ----- streaming ---------------------------------------------------------
    def begin(self, sources: list[Source], model: ModelUsed,
              searched: str | None = None) -> None:
        """The reply started: its sources are known (found for ``searched`` when the
        question was a follow-up made standalone), text will follow."""
        self.sources = list(sources)
        self.model = model
        self.searched = searched
        self.streaming = True
        # finish() re-renders such an answer whole, so a tail held back is not lost
        self._shown = self.groups.stream() if self.mode == Mode.DOCUMENTS and sources else None
        self.query_one(".answer-waiting", Static).display = False
        self._stream = Markdown.get_stream(self.body)

    async def write(self, piece: str) -> None:
        self.text += piece
        shown = self._shown.feed(piece) if self._shown is not None else piece
        if self._stream is not None and shown:
            await self._stream.write(self._markdown(shown, final=False))

    async def finish(self, stats: AnswerStats | None, grounding: Grounding | None) -> None:
        """The reply ended: show citations as links and the facts line."""
        self.streaming = False
        self.stats = stats
        self.grounding = grounding
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.query_one(".answer-waiting", Static).display = False
        if self.sources and self.mode != Mode.POEM:
            # One re-render at the end turns [n] into links; tokens were appended.
            await self.body.update(self._markdown(self.text, final=True))
        self.show_facts()

    async def set_grounding(self, grounding: Grounding) -> None:
        """Show the check of a finished answer (it arrives after the answer); its report
        (when the badge carries one) marks the evidence in the sources, and an answer the
        on_unsupported setting repaired (``grounding.text``) replaces the one streamed,
        its citations in document numbers like the rest."""
        self.grounding = grounding
        self.report = grounding.report
        if grounding.text is not None and grounding.text != self.text:
            self.text = grounding.text
            await self.body.update(self._markdown(self.text, final=True))
        self.show_facts()

    def show_facts(self, interrupted: bool = False) -> None:
        """The line under the answer: grounding badge, examples, why it stopped."""
        parts: list[Content] = []
        if self.grounding is not None:
            color = _badge_color(self.grounding)
            parts.append(Content.styled(f" {self.grounding.label} ", f"bold $text on {color}"))
        if self.mode == Mode.POEM and self.sources:
            titles = ", ".join(f"«{one_line(s.title)}»" for s in self.sources)
            parts.append(Content(f"образцы: {titles}"))
        elif self.mode == Mode.POEM:
            parts.append(Content("без образцов"))
        if self.searched:
            parts.append(Content(f"искал: «{one_line(self.searched)}»"))
        if self.form:
            parts.append(Content(one_line(self.form)))
        stopped = (self.stats.stopped_by if self.stats else "") or ("interrupted" if interrupted
                                                                   else "")
        if stopped in STOP_LABELS:
            parts.append(Content.styled(STOP_LABELS[stopped], "$warning"))
        if self.stats is not None and self.stats.new_tokens:
            parts.append(Content(f"{self.stats.new_tokens} ток."))
        facts = self.query_one(".answer-facts", Static)
        facts.update(Content(" · ").join(parts))
        facts.display = bool(parts)

    def set_selected(self, selected: bool) -> None:
        self.set_class(selected, "-selected")

    def on_click(self) -> None:
        self.post_message(self.Selected(self))

    @on(Markdown.LinkClicked)
    def _link(self, event: Markdown.LinkClicked) -> None:
        event.stop()
        number = citation_number(event.href)
        if number is not None and 1 <= number <= len(self.groups.documents):
            self.post_message(self.CitationOpened(self, number))


class ChatLog(VerticalScroll):
    """The scrolling conversation.  Up/Down select an answer; 1–9 open its sources."""

    can_focus = True

    BINDINGS = [
        Binding("up", "select(-1)", "Пред. ответ", show=False),
        Binding("down", "select(1)", "След. ответ", show=False),
        *[Binding(str(n), f"cite({n})", f"Источник {n}", show=False) for n in range(1, 10)],
    ]

    class SelectionChanged(Message):
        def __init__(self, answer: AnswerView | None) -> None:
            super().__init__()
            self.answer = answer

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.selected: AnswerView | None = None

    def compose(self):
        yield Static(WELCOME, id="welcome")

    def on_mount(self) -> None:
        self.anchor()  # follow the newest text while it streams

    @property
    def answers(self) -> list[AnswerView]:
        return list(self.query(AnswerView))

    def last_answer(self) -> AnswerView | None:
        answers = self.answers
        return answers[-1] if answers else None

    def turns(self, mode: Mode = Mode.CHAT) -> list[Turn]:
        """Finished exchanges of ``mode``, oldest first: the chat's multi-turn prompt, the
        conversation a documents follow-up is read in."""
        return [Turn(a.question, a.text, a.searched or "", tuple(a.sources))
                for a in self.answers if a.mode == mode and a.text.strip() and not a.streaming]

    async def add_exchange(self, question: UserMessage, answer: AnswerView) -> None:
        self.query_one("#welcome").display = False
        await self.mount_all([question, answer])
        self.select(answer)
        self.anchor()

    async def reset(self) -> None:
        self.selected = None
        await self.query("UserMessage, AnswerView").remove()
        self.query_one("#welcome").display = True
        self.post_message(self.SelectionChanged(None))

    def select(self, answer: AnswerView | None) -> None:
        if self.selected is not None and self.selected.is_attached:
            self.selected.set_selected(False)
        self.selected = answer
        if answer is not None:
            answer.set_selected(True)
        self.post_message(self.SelectionChanged(answer))

    def action_select(self, step: int) -> None:
        answers = self.answers
        if not answers:
            return
        index = answers.index(self.selected) if self.selected in answers else len(answers)
        answer = answers[max(0, min(len(answers) - 1, index + step))]
        self.select(answer)
        self.release_anchor()
        answer.scroll_visible(top=True)

    def action_cite(self, number: int) -> None:
        answer = self.selected
        if answer is not None and 1 <= number <= len(answer.groups.documents):
            self.post_message(AnswerView.CitationOpened(answer, number))

    @on(AnswerView.Selected)
    def _clicked(self, event: AnswerView.Selected) -> None:
        event.stop()
        self.select(event.answer)


def _badge_color(grounding: Grounding) -> str:
    """Green for a well-supported answer, amber for a partly, red for a poorly supported one."""
    if not grounding.checked or grounding.score is None:
        return "$accent"
    return "$success" if grounding.score >= 0.8 else "$warning" if grounding.score >= 0.5 else "$error"
