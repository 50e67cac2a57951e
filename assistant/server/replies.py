"""A request turned into a started reply (chat.backend.Reply), and a finished one
into the extra fields of its response.

Chat, documents and poem replies come from the chat app's backend, so the
server answers as the TUI does; /v1/completions generates from the raw prompt.
All of it blocks on the compute thread: the app calls these in a worker thread.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from assistant.chat.backend import ChatBackend, Reply, ReplyRequest, Turn, model_used
from assistant.chat.modes import Mode
from assistant.server.api_errors import ApiError
from assistant.server.modes import ModelChoice
from assistant.server.shapes import ChatRequest, CompletionRequest, Message, Sampling
from assistant.settings import DecodingSettings, Settings
from assistant.source_groups import CitationStream, grounding_dict, group_sources, passage_dicts

USER, ASSISTANT = "user", "assistant"


def check_limits(request: Sampling, settings: Settings, new_tokens: int | None,
                 k: int | None = None) -> None:
    """422 for a request asking for more tokens or passages than the [serve] settings allow."""
    limits = settings.serve
    if new_tokens is not None and new_tokens > limits.max_tokens:
        raise ApiError(422, f"max_tokens is {new_tokens}; this server allows at most "
                            f"{limits.max_tokens}", "max_tokens_too_large", "max_tokens")
    if k is not None and k > limits.max_k:
        raise ApiError(422, f"k is {k}; this server allows at most {limits.max_k}",
                       "k_too_large", "k")


def conversation(messages: list[Message]) -> tuple[list[Turn], str]:
    """The earlier user/assistant exchanges as turns, and the last user message.
    System messages are left out: Lira's prompts carry their own instructions."""
    said = [m for m in messages if m.role in (USER, ASSISTANT)]
    if not said or said[-1].role != USER:
        raise ApiError(422, "the last message must be the user's", "invalid_messages", "messages")
    turns, question = [], None
    for message in said[:-1]:
        if message.role == USER:
            question = message.text()
        elif question is not None:  # an assistant message without a question before is dropped
            turns.append(Turn(question, message.text()))
            question = None
    return turns, said[-1].text()


def decoding(settings: Settings, request: Sampling) -> DecodingSettings:
    """The [decoding] settings with the request's temperature and top_p over them.

    Temperature 0 is OpenAI's word for greedy decoding (what Lira's own openai: client
    sends for a greedy preset); transformers refuses it as a sampling temperature.
    """
    if request.temperature == 0:
        return replace(settings.decoding, do_sample=False, temperature=None, top_p=None, top_k=None)
    return replace(settings.decoding, **{name: value for name in ("temperature", "top_p")
                                         if (value := getattr(request, name)) is not None})


def start_chat(backend: ChatBackend, choice: ModelChoice, request: ChatRequest) -> Reply:
    """Retrieve, build the prompt and start generating the reply to the last user message
    (the request's limits checked beforehand: check_limits)."""
    turns, text = conversation(request.messages)
    return backend.reply(ReplyRequest(
        choice.mode, text, turns, index_name=choice.index_name,
        author=request.author if choice.mode == Mode.POEM else None, k=request.k,
        max_new_tokens=request.new_tokens(), temperature=request.temperature or None,  # 0: the preset's
        decoding=decoding(backend.settings, request)))


def start_completion(backend: ChatBackend, choice: ModelChoice,
                     request: CompletionRequest) -> Reply:
    """Generate from the prompt as it is: no retrieval, template or stop strings."""
    engine = backend.engine
    generator = engine.generator(choice.profile)
    preset = replace(engine.preset("chat", request.max_tokens,
                                   decoding(backend.settings, request)), stop=())
    cancel = threading.Event()
    return Reply([], generator.stream(request.text(), preset, cancel), cancel,
                 model_used(generator.loaded))


def reply_extras(backend: ChatBackend, reply: Reply, text: str) -> dict:
    """Lira's fields of a finished reply.  In documents mode: its ``sources`` one per
    document (assistant.source_groups: rank, relevance, passages with the evidence
    windows' offsets), the documents it cites, the retrieved ``passages`` as the prompt
    numbered them, the query searched when the last message was a follow-up made
    standalone (else null), and with checks on, its grounding report.  A poem's
    ``sources`` are its style examples, one per poem."""
    extras: dict = {"sources": [s.to_dict() for s in reply.sources], "cited": [],
                    "grounding": None, "note": reply.note, "searched": reply.searched,
                    "repair": None}  # on_unsupported's drop or retry: note, texts
    if reply.prepared is not None:
        answer = backend.engine.finish_answer(reply.prepared, text,
                                              check=backend.settings.check and bool(text.strip()))
        groups = group_sources(answer.sources, answer.check)
        extras["sources"] = [d.to_dict() for d in groups.documents]
        extras["passages"] = passage_dicts(answer.sources, groups)
        extras["cited"] = groups.cited(answer.cited)
        extras["grounding"] = grounding_dict(answer.check, groups)
        extras["repair"] = (answer.repair.to_dict(groups.renumber)  # the text as repaired too
                            | {"answer": groups.renumber(answer.text)} if answer.repair else None)
    return extras


def shown_citations(reply: Reply) -> CitationStream | None:
    """How the text of a documents reply goes out: its citations in the numbers of its
    documents, as ``sources`` lists them (None: other replies go out as generated)."""
    return group_sources(reply.sources).stream() if reply.prepared is not None else None


def shown_text(reply: Reply, text: str) -> str:
    """The whole text of ``reply`` as it goes out (see shown_citations)."""
    shown = shown_citations(reply)
    return text if shown is None else shown.feed(text) + shown.close()
