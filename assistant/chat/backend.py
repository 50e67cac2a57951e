"""What the chat app asks of the models, behind one small interface.

The Textual app talks only to a ``Backend``: load a model, start a reply,
list authors, index a folder, judge grounding.  ``ChatBackend`` implements it
over the Engine; the tests drive the app with a fake that streams fixed text.
Every method blocks (model work runs on the compute thread), so the app
calls them from thread workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from assistant.chat.history import AnswerStats, ModelUsed
from assistant.chat.modes import Mode
from assistant.engine import Engine, PreparedAnswer
from assistant.errors import SettingsError
from assistant.followup import Turn
from assistant.poetry.compose import DEFAULT_EXAMPLES, prepare_poem
from assistant.poetry.constrained_form import FormAsk
from assistant.rag import Source
from assistant.runtime.remote import RemoteGenerator
from assistant.settings import DecodingSettings, Settings
from assistant.source_groups import group_sources

IndexProgress = Callable[[int, int, int], None]  # files done, files in all, chunks

SYSTEM_CHAT = ("Это разговор пользователя с Лирой — помощником, который отвечает по-русски, "
               "кратко и по делу.")
USER, ASSISTANT = "Пользователь", "Лира"


def profile_of(mode: str) -> str:
    """The settings profile (model + adapter) a mode generates with."""
    try:
        return Mode(mode).profile
    except ValueError:
        raise SettingsError(f"unknown mode '{mode}'; use {', '.join(Mode)}") from None


@dataclass
class ReplyRequest:
    """Everything one reply depends on; None means the setting's default."""

    mode: Mode
    text: str  # the question, or the poem's title
    turns: Sequence[Turn] = ()  # earlier exchanges of this mode, oldest first
    index_name: str | None = None
    author: str | None = None
    k: int | None = None
    max_new_tokens: int | None = None
    temperature: float | None = None
    adapter: str | None = None
    decoding: DecodingSettings | None = None  # of answers and chat replies (None: the settings')
    form: FormAsk | None = None  # poem mode: the rhyme scheme and metre asked for (None: free)


@dataclass(frozen=True)
class Grounding:
    """The badge an answer carries about how well its sources support it.

    ``checked`` is False for a badge of retrieval scores only (checks off, or a
    stored answer); ``score`` is the check's score in [0, 1] when checked.  When the
    on_unsupported setting repaired the answer, ``note`` says what it did and ``text``
    is the answer to show instead of the one that streamed (None: keep that one).
    ``report`` is the check's GroundingReport, whose evidence windows the sources panel
    marks (None: not checked).
    """

    label: str
    detail: str = ""
    checked: bool = False
    score: float | None = None
    note: str | None = None
    text: str | None = None
    report: Any = None


@dataclass
class Reply:
    """A reply being generated: its sources are known, its text streams."""

    sources: list[Source]
    stream: Iterable[str]
    cancel_event: threading.Event
    model: ModelUsed
    note: str | None = None
    retrieval: bool = False
    # documents mode: the engine's PreparedAnswer, which the engine finishes and checks
    prepared: PreparedAnswer | None = None
    # documents mode: the query searched when it is not the question as typed (a
    # follow-up made standalone); None otherwise
    searched: str | None = None

    def __iter__(self) -> Iterator[str]:
        return iter(self.stream)

    def cancel(self) -> None:
        """Stop generating at the next token."""
        self.cancel_event.set()

    def form_report(self) -> dict | None:
        """A form-constrained poem's requested and achieved form (see poetry.constrained;
        slow: it analyses the poem), once the stream is read; None for other replies."""
        report = getattr(self.stream, "report", None)
        return report() if callable(report) else None

    def stats(self) -> AnswerStats:
        raw = getattr(self.stream, "stats", None)
        if raw is None:
            return AnswerStats()
        stopped = "cancelled" if self.cancel_event.is_set() else raw.stopped_by
        return AnswerStats(raw.prompt_tokens, raw.new_tokens, raw.first_token_s, raw.total_s,
                           stopped)


@dataclass
class IndexSummary:
    """What a background indexing run did."""

    name: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks: int = 0
    skipped: int = 0
    seconds: float = 0.0
    truncated: int = 0  # documents indexed in part (past max_text_chars)


class Backend(Protocol):
    """The app's view of the models and indexes."""

    settings: Settings

    def load(self, mode: Mode, adapter: str | None = None) -> ModelUsed: ...

    def reply(self, request: ReplyRequest) -> Reply: ...

    def authors(self, index_name: str | None = None) -> list[tuple[str, int]]: ...

    def index(self, path: Path, name: str | None, layout: str,
              progress: IndexProgress) -> IndexSummary: ...

    def grounding(self, reply: Reply, text: str) -> Grounding | None: ...


class ChatBackend:
    """The Backend over the Engine (real models)."""

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self.engine = engine or Engine(settings)
        # Engine caches models but is not thread-safe: two workers asking for the same
        # model at once would load it twice.  A question asked during a load waits here.
        self._models_lock = threading.Lock()

    def load(self, mode: Mode, adapter: str | None = None) -> ModelUsed:
        """Load the generator of ``mode`` (and the embedder, for documents)."""
        with self._models_lock:
            generator = self.engine.generator(profile_of(mode), adapter)
            if mode == Mode.DOCUMENTS:
                self.engine.embedder()
        return model_used(generator.loaded)

    def reply(self, request: ReplyRequest) -> Reply:
        """Retrieve what the mode needs, build its prompt and start generating."""
        if not request.text.strip():
            raise SettingsError("the message is empty")
        with self._models_lock:
            if request.mode == Mode.DOCUMENTS:
                return self._documents(request)
            if request.mode == Mode.POEM:
                return self._poem(request)
            return self._chat(request)

    def _documents(self, request: ReplyRequest) -> Reply:
        prepared = self.engine.prepare_answer(
            request.text, k=request.k, use_rag=True, index_name=request.index_name,
            adapter=request.adapter, max_new_tokens=request.max_new_tokens,
            decoding=request.decoding, turns=request.turns)
        generator = self.engine.generator("chat", request.adapter)
        follow_up = prepared.follow_up
        searched = follow_up.searched if follow_up is not None and follow_up.rewritten else None
        return Reply(prepared.sources, prepared.stream, prepared.stream.cancel,
                     model_used(generator.loaded), prepared.note, prepared.retrieval, prepared,
                     searched)

    def _poem(self, request: ReplyRequest) -> Reply:
        cancel = threading.Event()
        prepared = prepare_poem(self.engine, request.author or "", request.text,
                                k=request.k or DEFAULT_EXAMPLES, index_name=request.index_name,
                                adapter=request.adapter, max_new_tokens=request.max_new_tokens,
                                temperature=request.temperature, cancel=cancel,
                                form=request.form)
        generator = self.engine.generator("poem", request.adapter)
        return Reply(prepared.examples, prepared.stream, cancel, model_used(generator.loaded),
                     prepared.note, bool(prepared.examples))

    def _chat(self, request: ReplyRequest) -> Reply:
        generator = self.engine.generator("chat", request.adapter)
        preset = self.engine.preset("chat", request.max_new_tokens, request.decoding)
        budget = generator.loaded.context_window - preset.max_new_tokens
        cancel = threading.Event()
        if isinstance(generator, RemoteGenerator):  # the server applies the model's chat template
            messages = build_chat_messages(
                request.turns, request.text,
                lambda texts: sum(map(generator.count_tokens, texts)) <= budget)
            stream = generator.stream_messages(messages, preset, cancel)
        else:
            prompt = build_chat_prompt(request.turns, request.text,
                                       lambda text: generator.count_tokens(text) <= budget)
            stream = generator.stream(prompt, preset, cancel)
        return Reply([], stream, cancel, model_used(generator.loaded))

    def authors(self, index_name: str | None = None) -> list[tuple[str, int]]:
        """Authors of the poems in an index (none when it does not exist)."""
        if not self.engine.index_exists(index_name):
            return []
        return self.engine.authors(index_name, poems_only=True)

    def index(self, path: Path, name: str | None, layout: str,
              progress: IndexProgress) -> IndexSummary:
        """Index ``path`` into ``name``; ``progress`` hears after every file."""
        with self._models_lock:
            self.engine.embedder()  # loaded here, so index_path below finds it ready
        report = self.engine.index_path(path, name, layout, progress)
        return IndexSummary(name or self.settings.index_name, report.added, report.updated,
                            report.removed, report.unchanged, report.chunks,
                            len(report.skipped), report.seconds, len(report.truncated))

    def grounding(self, reply: Reply, text: str) -> Grounding | None:
        """The badge of a finished reply: the engine's Answer checked against its sources
        (slow: call it off the UI thread), or its retrieval scores when checks are off."""
        if not self.settings.check or not text.strip() or reply.prepared is None:
            return retrieval_badge(reply.sources)
        with self._models_lock:
            answer = self.engine.finish_answer(reply.prepared, text, check=True)
        if answer.check is None:
            return retrieval_badge(reply.sources)
        return grounding_badge(answer.check, answer.repair,
                               answer.text if answer.text != text.strip() else None)


VERDICT_MARKS = {"supported": "✓", "contradicted": "✗", "unsupported": "?"}
# the badge's detail, and `lira ask`'s check line, for an answer with nothing to check
NOTHING_CHECKED = ("в ответе нет утверждения, которое можно сверить с источниками "
                   "(ни факта, ни слова по существу: «Да.»)")


def grounding_badge(report: Any, repair: Any = None, text: str | None = None) -> Grounding:
    """'опора 0.83' with one line per sentence and its verdict in the detail; a repair
    (assistant.grounding.repair.Repair) adds its note, first, and ``text`` the answer
    that replaces the one streamed."""
    lines = [f"{VERDICT_MARKS.get(s.verdict, '?')} {s.score:.2f} {s.text}" for s in report.sentences]
    note = repair.note if repair is not None else None
    if report.nothing_checked:  # not green: nothing was found to agree with the sources
        return Grounding(label="нечего проверять", detail=NOTHING_CHECKED, checked=True,
                         note=note, text=text, report=report)
    return Grounding(label=f"опора {report.score:.2f}" + (" · исправлено" if text else ""),
                     detail="\n".join([note, *lines] if note else lines), checked=True,
                     score=report.score, note=note, text=text, report=report)


def retrieval_badge(sources: Sequence[Source]) -> Grounding | None:
    """A badge of retrieval alone (checks off, not yet checked, or a stored answer): the
    best document's relevance, and each document's in the detail, one per document as
    the sources panel lists them (assistant.source_groups)."""
    if not sources:
        return None
    documents = group_sources(sources).documents
    relevance = ", ".join(f"{d.relevance:.2f}" for d in documents)
    return Grounding(label=f"поиск: {documents[0].relevance:.2f}",
                     detail=f"релевантность документов [1…{len(documents)}]: {relevance}")


def model_used(loaded) -> ModelUsed:
    """The model, adapter and device of a LoadedModel, for history and the status bar."""
    adapter = Path(loaded.adapter).name if loaded.adapter else ""
    return ModelUsed(model=loaded.name, adapter=adapter, device=loaded.device)


def build_chat_prompt(turns: Sequence[Turn], question: str,
                      fits: Callable[[str], bool] = lambda text: True) -> str:
    """A dialogue prompt with as many of the latest turns as ``fits`` allows."""
    tail = f"{USER}: {question.strip()}\n{ASSISTANT}:"

    def render(kept: list[Turn]) -> str:
        lines = [SYSTEM_CHAT, ""]
        for turn in kept:
            lines += [f"{USER}: {turn.question.strip()}", f"{ASSISTANT}: {turn.answer.strip()}"]
        return "\n".join(lines + [tail])

    return _latest_fitting(turns, render, fits)


def build_chat_messages(turns: Sequence[Turn], question: str,
                        fits: Callable[[list[str]], bool] = lambda texts: True) -> list[dict[str, str]]:
    """The conversation as chat messages (system, then user/assistant turns, then the
    question) with as many of the latest turns as ``fits`` allows, given their texts."""
    def render(kept: list[Turn]) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": SYSTEM_CHAT}]
        for turn in kept:
            messages += [{"role": "user", "content": turn.question.strip()},
                         {"role": "assistant", "content": turn.answer.strip()}]
        return messages + [{"role": "user", "content": question.strip()}]

    return _latest_fitting(turns, render,
                           lambda messages: fits([m["content"] for m in messages]))


def _latest_fitting(turns: Sequence[Turn], render: Callable[[list[Turn]], Any],
                    fits: Callable[[Any], bool]) -> Any:
    """``render`` of the latest turns that ``fits``, dropping the oldest first (none at worst)."""
    kept = list(turns)
    while True:
        rendered = render(kept)
        if not kept or fits(rendered):
            return rendered
        kept.pop(0)
