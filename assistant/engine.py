"""The engine: models, indexes and answers behind the CLI and the TUI.

Models are loaded on first use and kept, so a chat session or a batch of
queries pays for each load once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import SettingsError
from assistant.followup import FollowUp, Turn, earlier_exchange, merge_sources, read_follow_up
from assistant.rag import (
    Source,
    build_plain_prompt,
    build_rag_prompt,
    cited_numbers,
    sources_from_hits,
)
from assistant.runtime import compute
from assistant.runtime.compute import ComputeEmbedder
from assistant.runtime.engines import LLAMA, EnginePlan, adapter_gguf, plan_engine
from assistant.runtime.generation import GenerationStats, Generator, TextStream
from assistant.runtime.models import resolve
from assistant.runtime.presets import PRESETS, Preset
from assistant.settings import DecodingSettings, ModelProfile, Settings
from index.errors import EmptyIndex, StoreError
from index.remote_api import is_remote, setting_hint

if TYPE_CHECKING:  # numpy, the store, openai and llama.cpp: not at start-up
    from assistant.runtime.llama_engine import LlamaGenerator
    from assistant.runtime.remote import RemoteGenerator
    from index.ingest import IngestReport
    from index.search import Searcher

Progress = Callable[[str], None]
FileProgress = Callable[[int, int, int], None]  # files done, files in all, chunks so far
Regenerate = Callable[[Sequence[tuple[int, str]]], TextStream]
NO_ADAPTER = "none"
MISSING, EMPTY = "missing", "empty"  # why an index has no searcher (Engine.ready_searcher)


@dataclass
class PreparedAnswer:
    """Everything about an answer except its text, which ``stream`` yields."""

    question: str
    prompt: str
    sources: list[Source]
    stream: TextStream
    note: str | None = None
    retrieval: bool = field(default=False)
    model: str = ""  # the model reference that answers
    adapter: str | None = None  # its adapter's folder name (None: the base alone)
    follow_up: FollowUp | None = None  # the question read in its conversation
    # a second try: the same prompt with (source number, excerpt) pairs quoted, streamed with
    # the same model, decoding and cancel event (on_unsupported = retry; see Engine.checked)
    regenerate: Regenerate | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Retrieval:
    """What a question retrieved: its sources (none without an index), why there are
    none, and the question as read in its conversation (``follow_up.searched``)."""

    sources: list[Source]
    note: str | None
    follow_up: FollowUp


@dataclass(frozen=True)
class Answer:
    """A finished answer, every part of it computed: front ends only format it.

    ``cited``: the source numbers [n] the text cites, in order; ``check``: its
    grounding report against the sources (assistant.grounding.GroundingReport),
    or None when it was not checked; ``repair``: what the on_unsupported setting did
    to it (assistant.grounding.repair.Repair; None: nothing, the text is as generated).
    """

    question: str
    text: str
    sources: list[Source]
    cited: list[int]
    check: Any
    stats: GenerationStats
    note: str | None = None
    retrieval: bool = False
    model: str = ""
    adapter: str | None = None
    follow_up: FollowUp | None = None
    repair: Any = None
    regenerate: Regenerate | None = field(default=None, repr=False, compare=False)

    @property
    def searched(self) -> str | None:
        """The query searched for the sources (None: no search was made)."""
        return self.follow_up.searched if self.follow_up is not None else None


def ingest_options(settings: Settings, layout: str = "auto"):
    """Chunking and file limits from the settings (an index.ingest.IngestOptions)."""
    from index.ingest import IngestOptions  # numpy and the store: not at start-up

    return IngestOptions(chunk_tokens=settings.chunk_tokens, chunk_overlap=settings.chunk_overlap,
                         max_file_bytes=int(settings.max_file_mb * 2**20),
                         max_text_chars=settings.max_text_chars, layout=layout)


class Engine:
    """Lazily loads the embedder, indexes and generators named by settings."""

    def __init__(self, settings: Settings, progress: Progress | None = None):
        self.settings = settings
        self.progress = progress
        self._embedder = None
        self._generators: dict[tuple, Generator | RemoteGenerator] = {}
        self._plans: dict[tuple[str, str], EnginePlan] = {}  # (profile, adapter): its engine
        self._searchers: dict[str, object] = {}
        self._nli: tuple[str | None, object] | None = None  # (reference, scorer) once loaded

    # ----- retrieval ---------------------------------------------------------
    def embedder(self):
        """The configured embedder (loaded once)."""
        if self._embedder is None:
            if is_remote(self.settings.embedder):
                self._embedder = self._remote_embedder()
                return self._embedder
            from index.embeddings import Embedder

            path = resolve(self.settings.embedder, self.settings, self.progress)
            self._say(f"loading embedder {self.settings.embedder}")
            self._embedder = ComputeEmbedder(compute.run(Embedder, path, self.settings.embedder))
        return self._embedder

    def _remote_embedder(self):
        from index.remote_embeddings import RemoteEmbedder

        url = self.settings.embedder_base_url
        if not url:
            raise SettingsError(f"embedder = {self.settings.embedder} needs the server's URL: set "
                                "embedder_base_url in lira.toml or LIRA_EMBEDDER_BASE_URL "
                                "(e.g. http://localhost:11434/v1)")
        self._say(f"using embedder {self.settings.embedder} at {url}")
        return RemoteEmbedder(self.settings.embedder, url, self.settings.api_key)

    def open_index(self, name: str | None = None, create: bool = False):
        """The store of index ``name`` (the configured default when None); the caller closes it."""
        from index.store import IndexStore

        return IndexStore.open(self.settings.index_dir(name), create=create)

    def index_exists(self, name: str | None = None) -> bool:
        """Whether index ``name`` (the configured default when None) has been built."""
        from index.store import IndexStore

        return IndexStore.exists(self.settings.index_dir(name))

    def index_path(self, path: Path, name: str | None = None, layout: str = "auto",
                   progress: FileProgress | None = None) -> IngestReport:
        """Index ``path`` into index ``name`` (created when missing) with the engine's
        embedder, closing the store after; ``progress`` hears after every file."""
        from index.ingest import index_path

        self.settings.index_dir(name)  # a name that is not a plain one fails before the embedder loads
        embedder = self.embedder()
        store = self.open_index(name, create=True)
        try:
            return index_path(path, store, embedder, ingest_options(self.settings, layout),
                              progress)
        finally:
            store.close()

    def authors(self, name: str | None = None, poems_only: bool = False) -> list[tuple[str, int]]:
        """The authors of the poems in index ``name`` with their counts, or, unless
        ``poems_only``, of all its documents when it holds no poems.  StoreError when
        there is no such index (see index_exists)."""
        store = self.open_index(name)
        try:
            return store.authors(kind="poem") or ([] if poems_only else store.authors())
        finally:
            store.close()

    def ready_searcher(self, name: str | None = None) -> tuple[Searcher | None, str | None]:
        """(searcher, None) for an index with passages, else (None, MISSING or EMPTY)."""
        if not self.index_exists(name):
            return None, MISSING
        try:
            return self.searcher(name), None
        except EmptyIndex:
            return None, EMPTY

    def searcher(self, name: str | None = None):
        """A searcher over a non-empty index, with the index's own embedder checked.

        Searchers are kept per index, so a chat session opens each index once;
        the store notices other writers through its generation counter.
        """
        name = name or self.settings.index_name
        if name not in self._searchers:
            self._searchers[name] = self._new_searcher(name)
        return self._searchers[name]

    def _new_searcher(self, name: str):
        from index.search import Searcher

        store = self.open_index(name)
        try:
            if store.chunk_count() == 0:
                raise EmptyIndex(f"index '{name}' is empty; "
                                 "add documents with `lira index PATH`")
            if store.embedder and store.embedder != self.settings.embedder:
                raise StoreError(f"index '{store.folder.name}' was built with embedder "
                                 f"'{store.embedder}', but the embedder setting is "
                                 f"'{self.settings.embedder}'; set "
                                 f"LIRA_EMBEDDER={store.embedder} or re-index into a new --name")
        except StoreError:  # EmptyIndex too: the store is not kept, so it is closed
            store.close()
            raise
        return Searcher(store, self.embedder())

    # ----- generation --------------------------------------------------------
    def generator(self, profile: str = "chat",
                  adapter: str | None = None) -> Generator | RemoteGenerator | LlamaGenerator:
        """The generator of a profile; ``adapter`` overrides it ('none' for the bare base).
        A model "openai:MODEL" is on a server (assistant.runtime.remote)."""
        config = self._profile(profile)
        if is_remote(config.model):
            return self._remote_generator(profile, config, adapter)
        chosen = config.adapter if adapter is None else adapter
        gguf_adapter = self.adapter_path(chosen, profile)  # a GGUF has no folder to fingerprint
        plan = self._plan(profile, gguf_adapter)
        if plan.engine == LLAMA:
            return self._llama_generator(config, plan.gguf, gguf_adapter)
        path = resolve(config.model, self.settings, self.progress)
        adapter_path = self.adapter_path(chosen, profile, path)
        key = (config.model, str(adapter_path), config.quantization)
        if key not in self._generators:
            from assistant.runtime.loading import load_model

            self._say(f"loading {config.model}"
                      + (f" with adapter {adapter_path.name}" if adapter_path else ""))
            loaded = compute.run(load_model, path, config.model, self.settings.device,
                                 config.quantization, adapter_path, self.settings.speed)
            self._generators[key] = Generator(loaded)
        return self._generators[key]

    def prepare_llama(self) -> None:
        """Export now the adapters of the profiles that run on llama.cpp (``lira models
        --prepare``), so that no first answer or poem waits for it."""
        for profile in ("chat", "poem"):
            config = self._profile(profile)
            if is_remote(config.model):
                continue
            adapter = self.adapter_path(config.adapter, profile)
            plan = self._plan(profile, adapter)
            if plan.engine == LLAMA:
                adapter_gguf(adapter, plan.gguf, self.settings, self._say)

    def _plan(self, profile: str, adapter: Path | None) -> EnginePlan:
        """The engine of a profile's model with ``adapter``, chosen once per engine: choosing
        checks the bundled GGUF (its sha256), which every answer would repeat otherwise.
        Why the bundled model stays on transformers is said once."""
        key = (profile, str(adapter))
        if key not in self._plans:
            plan = plan_engine(self._profile(profile), self.settings, adapter)
            if plan.note and plan.note not in {known.note for known in self._plans.values()}:
                self._say(plan.note)
            self._plans[key] = plan
        return self._plans[key]

    def _llama_generator(self, config: ModelProfile, gguf: Path,
                         adapter: Path | None) -> LlamaGenerator:
        """The generator of a GGUF model on llama.cpp (assistant.runtime.engines), its
        adapter exported to GGUF once."""
        from assistant.runtime.llama_engine import LlamaGenerator, load_gguf

        key = ("llama.cpp", str(gguf), str(adapter))
        if key not in self._generators:
            run = adapter_gguf(adapter, gguf, self.settings, self._say)
            self._say(f"loading {config.model} on llama.cpp"
                      + (f" with adapter {adapter.name}" if adapter else ""))
            loaded = compute.run(load_gguf, run.model, config.model, run.lora,
                                 self.settings.speed.threads or None)
            if adapter is not None:
                loaded.adapter = str(adapter)
            self._generators[key] = LlamaGenerator(loaded)
        return self._generators[key]

    def _remote_generator(self, profile: str, config: ModelProfile,
                          adapter: str | None) -> RemoteGenerator:
        """The generator of a model on a server; its own adapters are the server's business."""
        chosen = config.adapter if adapter is None else adapter
        if chosen not in (None, "auto", NO_ADAPTER):
            raise SettingsError(f"adapter '{chosen}' cannot be used with {config.model}, a model "
                                f"on a server: set {profile}.adapter to none or pick a local model")
        if not config.base_url:
            raise SettingsError(f"{profile}.model = {config.model} needs the server's URL: set "
                                f"[{profile}] base_url in lira.toml or LIRA_{profile.upper()}"
                                "_BASE_URL (e.g. http://localhost:11434/v1)")
        key = (config.model, config.base_url, profile)
        if key not in self._generators:
            from assistant.runtime.remote import CHAT, COMPLETIONS, RemoteGenerator

            self._say(f"using {config.model} at {config.base_url}")
            hint = setting_hint(f"[{profile}] base_url", f"LIRA_{profile.upper()}_BASE_URL")
            self._generators[key] = RemoteGenerator(
                config.model, config.base_url, self.settings.api_key, hint,
                COMPLETIONS if profile == "poem" else CHAT)
        return self._generators[key]

    def adapter_path(self, reference: str | None, profile: str = "chat",
                     model_dir: Path | None = None) -> Path | None:
        """The adapter folder a setting or flag names (None: the base alone); see adapter_choice."""
        from assistant.runtime.adapter_choice import choose_adapter

        config = self._profile(profile)
        return choose_adapter(reference, profile, config.model, model_dir, self.settings.home).path

    def _profile(self, name: str) -> ModelProfile:
        if name not in ("chat", "poem"):
            raise SettingsError(f"unknown profile '{name}'; use chat or poem")
        return getattr(self.settings, name)

    # ----- checks ------------------------------------------------------------
    def check_answer(self, answer: str, sources, question: str | None = None):
        """The grounding report of ``answer`` against ``sources`` (assistant.grounding), judged
        as the answer to ``question`` when one is given."""
        from assistant.grounding import check_answer

        if not answer.strip():  # no claims: the report is empty, no model needed
            return check_answer(answer, sources)
        reading = None  # the chat model reading the answer: signals of the badge
        if question:
            from assistant.grounding.confidence import read_answer

            reading = compute.run(read_answer, self.generator("chat"), question, answer,
                                  sources)
        return check_answer(answer, sources, embedder=self.embedder(), nli=self.nli(),
                            question=question, reading=reading)

    def nli(self, override: str | None = None):
        """The entailment scorer of the nli setting (or ``override``: a reference or 'none'),
        loaded once (None when there is none)."""
        from assistant.grounding.entailment import load_entailment, nli_reference

        reference = nli_reference(self.settings, override)
        if self._nli is None or self._nli[0] != reference:
            if reference is not None:
                self._say(f"loading NLI model {Path(reference).name}")
            scorer = load_entailment(self.settings, reference) if reference else None
            self._nli = (reference, scorer)
        return self._nli[1]

    def check_models(self, nli: str | None = None, use_embedder: bool = True):
        """The embedder (None when left out) and entailment scorer a check uses."""
        return (self.embedder() if use_embedder else None), self.nli(nli)

    # ----- answers -----------------------------------------------------------
    def prepare_answer(self, question: str, k: int | None = None, use_rag: bool = True,
                       index_name: str | None = None, adapter: str | None = None,
                       max_new_tokens: int | None = None,
                       decoding: DecodingSettings | None = None,
                       turns: Sequence[Turn] = ()) -> PreparedAnswer:
        """Retrieve (when an index exists), build the prompt and start generating.
        ``turns``: the conversation so far (oldest first), which a follow-up question
        is read in (assistant.followup): for retrieval and in the prompt."""
        if not question.strip():
            raise SettingsError("the question is empty; type a question")
        found = (self.retrieve(question, k, index_name, turns) if use_rag
                 else Retrieval([], None, read_follow_up(question, turns)))
        earlier = earlier_exchange(turns) if found.follow_up.refers_back else None
        prompt = (build_rag_prompt(question, found.sources, earlier) if found.sources
                  else build_plain_prompt(question, earlier))
        preset = self.preset("answer", max_new_tokens, decoding)
        generator = self.generator("chat", adapter)
        loaded = generator.loaded
        stream = generator.stream(prompt, preset)

        def regenerate(evidence: Sequence[tuple[int, str]]) -> TextStream:
            return generator.stream(build_rag_prompt(question, found.sources, earlier, evidence),
                                    preset, stream.cancel)

        return PreparedAnswer(question, prompt, found.sources, stream,
                              found.note, retrieval=bool(found.sources), model=loaded.name,
                              adapter=Path(loaded.adapter).name if loaded.adapter else None,
                              follow_up=found.follow_up if use_rag else None,
                              regenerate=regenerate if found.sources else None)

    def retrieve(self, question: str, k: int | None = None, index_name: str | None = None,
                 turns: Sequence[Turn] = ()) -> Retrieval:
        """The sources for ``question`` read in its conversation: a follow-up that refers
        back is searched in its standalone form, and the previous answer's sources stay
        candidates beside what that search finds."""
        k = k or self.settings.k
        follow_up = read_follow_up(question, turns)
        sources, note = self._retrieve(follow_up.searched, k, index_name)
        if sources and follow_up.refers_back and turns and turns[-1].sources:
            sources = merge_sources(sources, turns[-1].sources, k)
        return Retrieval(sources, note, follow_up)

    def preset(self, kind: str, max_new_tokens: int | None = None,
               decoding: DecodingSettings | None = None) -> Preset:
        """The decoding of an answer ("answer") or a chat reply ("chat"): the preset, the
        ``decoding`` given (None: the [decoding] settings) over it, and ``max_new_tokens``
        (None: the setting)."""
        decoding = self.settings.decoding if decoding is None else decoding
        return PRESETS[kind].with_overrides(**decoding.overrides(),
                                            max_new_tokens=max_new_tokens or self.settings.max_new_tokens)

    def finish_answer(self, prepared: PreparedAnswer, text: str | None = None,
                      check: bool = False) -> Answer:
        """The finished answer of ``prepared``: ``text`` is what streamed (None: read the
        stream to its end), stripped; with ``check``, judged against its sources (when
        it has any) and repaired as on_unsupported says (see checked)."""
        text = ("".join(prepared.stream) if text is None else text).strip()
        answer = Answer(prepared.question, text, prepared.sources,
                        cited_numbers(text, len(prepared.sources)), None,
                        prepared.stream.stats, prepared.note, prepared.retrieval,
                        prepared.model, prepared.adapter, prepared.follow_up,
                        regenerate=prepared.regenerate)
        return self.checked(answer) if check else answer

    def checked(self, answer: Answer, on_unsupported: str | None = None) -> Answer:
        """``answer`` with its grounding report against its sources (slow: models run),
        then, when the check finds a sentence it does not support, repaired as
        ``on_unsupported`` (None: the setting) says: mark (left as it is), drop or
        retry (assistant.grounding.repair); unchanged when it has no sources."""
        if not answer.sources:
            return answer
        answer = self._with_check(answer, answer.text)
        return self.repaired(answer, on_unsupported or self.settings.on_unsupported)

    def _with_check(self, answer: Answer, text: str) -> Answer:
        """``answer`` with ``text``, the numbers it cites and its check."""
        # a follow-up ("А когда?") is judged as the question it was searched as, with the
        # names and key terms it refers back to
        return replace(answer, text=text, cited=cited_numbers(text, len(answer.sources)),
                       check=self.check_answer(text, answer.sources,
                                               answer.searched or answer.question))

    def repaired(self, answer: Answer, how: str) -> Answer:
        """A checked ``answer`` repaired as ``how`` (mark, drop or retry) says; an answer
        the user stopped, or whose check found nothing unsupported, is left as it is."""
        from assistant.grounding.repair import DROP, MARK, needs_repair

        if (how == MARK or not needs_repair(answer.check)
                or answer.stats.stopped_by == "cancelled"):
            return answer
        return self._dropped(answer) if how == DROP else self._retried(answer)

    def _dropped(self, answer: Answer) -> Answer:
        from assistant.grounding.repair import DROPPED, KEPT, Repair, drop_unsupported

        dropped = drop_unsupported(answer.text, answer.check)
        if not dropped.removed:
            return (replace(answer, repair=Repair(KEPT, dropped.note, answer.text, answer.check))
                    if dropped.note else answer)
        # checked again: the first sentence left is now judged as the answer to the question
        repaired = self._with_check(answer, dropped.text)
        return replace(repaired, repair=Repair(DROPPED, dropped.note, answer.text, answer.check))

    def _retried(self, answer: Answer) -> Answer:
        """One more answer with the evidence windows quoted; the better-checked one is kept
        (the first on a tie), and a failed or stopped second try keeps the first."""
        from assistant.grounding.repair import KEPT, RETRIED, Repair, evidence_quotes

        def kept(note: str, second: str | None = None) -> Answer:
            return replace(answer, repair=Repair(KEPT, note, answer.text, answer.check, second))

        quotes = evidence_quotes(answer.check)
        if answer.regenerate is None or not quotes:
            return kept("нет мест источников, по которым переписать ответ — он помечен")
        try:
            stream = answer.regenerate(quotes)
            text = "".join(stream).strip()
            if stream.stats.stopped_by == "cancelled":
                return kept("повторный ответ остановлен — оставлен первый")
            second = self._with_check(answer, text) if text else None
        except Exception as exc:  # noqa: BLE001  (a failed second try must not lose the first)
            return kept(f"повторный ответ не получился ({type(exc).__name__}) — оставлен первый")
        before = answer.check.score
        if second is None or second.check.score <= before:
            after = f"{second.check.score:.2f}" if second is not None else "пусто"
            return kept(f"повторный ответ проверен не лучше ({after} против {before:.2f}) — "
                        "оставлен первый", text)
        note = f"ответ переписан по местам источников: опора {before:.2f} → {second.check.score:.2f}"
        return replace(second, stats=stream.stats,
                       repair=Repair(RETRIED, note, answer.text, answer.check, text))

    def _retrieve(self, question: str, k: int,
                  index_name: str | None) -> tuple[list[Source], str | None]:
        name = index_name or self.settings.index_name
        searcher, missing = self.ready_searcher(name)
        if missing == MISSING:
            return [], f"no index '{name}': answering without retrieval (build one with `lira index PATH`)"
        if missing == EMPTY:
            return [], f"index '{name}' is empty: answering without retrieval"
        return sources_from_hits(searcher.search(question, k)), None

    def _say(self, message: str) -> None:
        if self.progress:
            self.progress(message)
