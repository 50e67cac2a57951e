"""Lira as a client of OpenAI-compatible servers (issue 16, items 1 and 2), against a
stand-in server on 127.0.0.1 (tests/stand_in_openai.py) that streams real SSE."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from assistant.chat.backend import ChatBackend, ReplyRequest, Turn
from assistant.chat.modes import Mode
from assistant.engine import Engine
from assistant.errors import GenerationError, SettingsError
from assistant.runtime.presets import PRESETS
from assistant.runtime.remote import RemoteGenerator, sampling, window_of
from assistant.settings import load_settings
from index.errors import EmbedderError
from tests.conftest import one_line_error
from tests.stand_in_openai import StandIn


@pytest.fixture
def server():
    with StandIn() as stand_in:
        yield stand_in


@pytest.fixture
def remote_env(server, lira_home, tiny_embedder_dir, monkeypatch):
    """`lira` pointed at the stand-in for chat and poems, with the tiny local embedder."""
    monkeypatch.setenv("LIRA_CHAT_MODEL", "openai:m")
    monkeypatch.setenv("LIRA_CHAT_BASE_URL", server.url)
    monkeypatch.setenv("LIRA_POEM_MODEL", "openai:m")
    monkeypatch.setenv("LIRA_POEM_BASE_URL", server.url)
    monkeypatch.setenv("LIRA_EMBEDDER", str(tiny_embedder_dir))
    monkeypatch.setenv("LIRA_NLI", "none")
    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ask_answers_with_citations_and_the_check(remote_env, run, docs):
    assert run("index", docs)[0] == 0
    code, out, err = run("ask", "Какая столица России?")
    assert code == 0, err
    assert "Москва [1]." in out
    assert "[1]" in out.split("Москва [1].")[1]  # the sources listed after the answer
    assert "Проверка по источникам" in out
    [body] = remote_env.bodies("/v1/chat/completions")
    assert body["stream"] is True and body["temperature"] == 0.0
    assert body["stop"] == list(PRESETS["answer"].stop)
    [message] = body["messages"]
    assert message["role"] == "user" and "Какая столица России?" in message["content"]


def test_ask_json_has_the_stream_stats(remote_env, run):
    import json

    code, out, err = run("ask", "--no-rag", "--json", "Привет")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["model"] == {"reference": "openai:m", "adapter": None}
    stats = answer["stats"]
    assert stats["new_tokens"] == 5 and stats["prompt_tokens"] == 11  # the server's usage
    assert stats["stopped_by"] == "eos" and stats["first_token_s"] > 0


def test_chat_mode_sends_the_conversation_as_messages(remote_env):
    backend = ChatBackend(load_settings())
    used = backend.load(Mode.CHAT)
    assert used.model == "openai:m" and used.device == remote_env.url
    reply = backend.reply(ReplyRequest(Mode.CHAT, "Как дела?", turns=[Turn("Кто ты?", "Лира.")]))
    assert "".join(reply) == "Привет! Я Лира."
    [body] = remote_env.bodies("/v1/chat/completions")
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert [m["content"] for m in body["messages"][1:]] == ["Кто ты?", "Лира.", "Как дела?"]
    assert reply.stats().new_tokens == 5


def test_poem_mode_uses_completions_with_the_poem_template(remote_env):
    backend = ChatBackend(load_settings())
    reply = backend.reply(ReplyRequest(Mode.POEM, "Ночь", author="Пушкин"))
    assert "луна" in "".join(reply)
    [body] = remote_env.bodies("/v1/completions")
    assert "###Стихотворение:" in body["prompt"] and "Пушкин" in body["prompt"]
    assert body["temperature"] == PRESETS["poem"].temperature


def test_a_poem_streams_cleaned_and_stops_at_its_footnote(remote_env):
    remote_env.poem = ("<i>Ночь</i> тиха, луна светла,\nтень по улице легла.\n<u>* * *</u>\n"
                       "____\n* Примечание: ")
    remote_env.behaviour = "run-on"  # words without end after the footnote
    backend = ChatBackend(load_settings())
    reply = backend.reply(ReplyRequest(Mode.POEM, "Ночь", author="Пушкин"))
    pieces = list(reply)
    assert "".join(pieces) == "Ночь тиха, луна светла,\nтень по улице легла."
    assert pieces[0] == "Ночь тиха, луна светла,"  # a line at a time
    assert remote_env.client_left.wait(3)  # the generation stopped at the footnote
    assert reply.stats().stopped_by == "stop string"


def test_poem_cli_ranks_remote_candidates(remote_env, run):
    code, out, err = run("poem", "--author", "Пушкин", "--title", "Ночь", "--candidates", "2")
    assert code == 0, err
    assert "луна" in out
    assert len(remote_env.bodies("/v1/completions")) == 2


def test_a_server_without_completions_says_why_poems_fail(remote_env):
    remote_env.behaviour = "no-completions"
    backend = ChatBackend(load_settings())
    with pytest.raises(GenerationError, match="no text completions endpoint.*poem"):
        "".join(backend.reply(ReplyRequest(Mode.POEM, "Ночь", author="Пушкин")))


def test_cancel_closes_the_stream_at_once(server):
    server.behaviour = "drip"
    generator = RemoteGenerator("openai:m", server.url, None, "the base URL")
    cancel = threading.Event()
    stream = generator.stream_messages([{"role": "user", "content": "x"}], PRESETS["chat"], cancel)
    pieces = iter(stream)
    assert next(pieces)
    threading.Timer(0.2, cancel.set).start()
    started = time.perf_counter()
    rest = list(pieces)
    assert time.perf_counter() - started < 1.5
    assert len(rest) < 30
    assert stream.stats.stopped_by == "cancelled"
    assert server.client_left.wait(3)  # the server saw the client leave


def test_cancel_while_the_server_reads_the_prompt_returns_at_once(server):
    server.behaviour = "slow-prompt"  # 2 s before the response starts
    generator = RemoteGenerator("openai:m", server.url, None, "the base URL")
    cancel = threading.Event()
    stream = generator.stream_messages([{"role": "user", "content": "x"}], PRESETS["chat"], cancel)
    threading.Timer(0.2, cancel.set).start()
    started = time.perf_counter()
    assert list(stream) == []
    assert time.perf_counter() - started < 1.0
    assert stream.stats.stopped_by == "cancelled" and stream.stats.first_token_s is None
    assert server.client_left.wait(5)  # hung up as soon as the server answered


def test_a_stalled_stream_ends_with_one_line(server):
    from index.remote_api import make_client

    server.behaviour = "stall"
    client = make_client(server.url, None, max_retries=0, read_timeout=0.5)
    generator = RemoteGenerator("openai:m", server.url, None, "the base URL", client=client)
    pieces = []
    with pytest.raises(GenerationError, match="sent nothing for too long") as caught:
        for piece in generator.stream("Привет", PRESETS["chat"]):
            pieces.append(piece)
    assert server.url in str(caught.value) and "\n" not in str(caught.value)
    assert "".join(pieces) == "Привет"  # the partial answer came through first


@pytest.mark.parametrize("case, expected", [
    ("down", "cannot reach the server"),
    ("key", "refused the API key (401)"),
    ("model", "has no model 'nope'"),
    ("html", "did not answer with OpenAI-style JSON"),
    ("garbage", "did not answer with OpenAI-style JSON"),
])
def test_server_failures_are_one_line_errors(case, expected, server, remote_env, run,
                                             monkeypatch):
    url = server.url
    if case == "down":
        url = f"http://127.0.0.1:{free_port()}/v1"
        monkeypatch.setenv("LIRA_CHAT_BASE_URL", url)
    if case == "key":
        server.key = "secret"
        monkeypatch.setenv("LIRA_API_KEY", "wrong")
    if case == "model":
        monkeypatch.setenv("LIRA_CHAT_MODEL", "openai:nope")
    if case in ("html", "garbage"):
        server.behaviour = case
    line = one_line_error(*run("ask", "--no-rag", "Привет")[::2])
    assert expected in line and url in line


def test_the_right_key_is_sent(server, remote_env, run, monkeypatch):
    server.key = "secret"
    monkeypatch.setenv("LIRA_API_KEY", "secret")
    code, out, err = run("ask", "--no-rag", "Привет")
    assert code == 0 and "Привет! Я Лира." in out, err


def test_a_rejected_context_window_is_one_line(server):
    import httpx2
    import openai

    from index.remote_api import api_failure

    request = httpx2.Request("POST", server.url + "/chat/completions")
    response = httpx2.Response(400, request=request, json={"message": "context length 9000"})
    error = openai.BadRequestError("too long", response=response,
                                   body={"message": "context length 9000"})
    line = api_failure(error, server.url, "m", "the base URL")
    assert "context window" in line and "context length 9000" in line and server.url in line


def test_settings_errors(lira_home, monkeypatch, server):
    monkeypatch.setenv("LIRA_CHAT_MODEL", "openai:m")
    with pytest.raises(SettingsError, match="LIRA_CHAT_BASE_URL"):
        Engine(load_settings()).generator("chat")
    monkeypatch.setenv("LIRA_CHAT_BASE_URL", server.url)
    with pytest.raises(SettingsError, match="cannot be used with openai:m"):
        Engine(load_settings()).generator("chat", "some-adapter")
    assert Engine(load_settings()).generator("chat", "none").loaded.context_window == 2048


def test_decoding_and_windows():
    assert sampling(PRESETS["answer"])["temperature"] == 0.0
    poem = sampling(PRESETS["poem"])
    assert poem["top_p"] == 0.95 and poem["max_tokens"] == 400
    assert window_of({"id": "m", "meta": {"n_ctx_train": 8192}}) == 8192
    assert window_of({"id": "m"}) == 4096


def test_remote_embedder_indexes_and_searches(server, lira_home, monkeypatch, run, docs,
                                              tiny_embedder_dir):
    monkeypatch.setenv("LIRA_EMBEDDER", "openai:emb")
    monkeypatch.setenv("LIRA_EMBEDDER_BASE_URL", server.url)
    code, _, err = run("index", docs)
    assert code == 0, err
    code, out, err = run("search", "столица России")
    assert code == 0, err
    assert "moscow.txt" in out
    assert len(server.bodies("/v1/embeddings")) >= 3  # the probe, the passages, the query
    # the same index with the local embedder is refused
    monkeypatch.setenv("LIRA_EMBEDDER", str(tiny_embedder_dir))
    assert "openai:emb" in one_line_error(*run("search", "столица")[::2])


def test_a_local_index_refuses_the_remote_embedder(server, lira_home, monkeypatch, run, docs,
                                                   tiny_embedder_dir):
    monkeypatch.setenv("LIRA_EMBEDDER", str(tiny_embedder_dir))
    assert run("index", docs)[0] == 0
    monkeypatch.setenv("LIRA_EMBEDDER", "openai:emb")
    monkeypatch.setenv("LIRA_EMBEDDER_BASE_URL", server.url)
    line = one_line_error(*run("search", "столица")[::2])
    assert "openai:emb" in line


def test_remote_embedder_batches_and_normalises(server):
    import numpy as np

    from index.remote_embeddings import BATCH, RemoteEmbedder

    embedder = RemoteEmbedder("openai:emb", server.url)
    vectors = embedder.embed_passages([f"текст {i}" for i in range(BATCH + 5)])
    assert vectors.shape == (BATCH + 5, embedder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert [len(b["input"]) for b in server.bodies("/v1/embeddings")] == [1, BATCH, 5]
    server.key = "k"
    with pytest.raises(EmbedderError, match="refused the API key"):
        embedder.embed_queries(["x"])


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_the_chat_app_streams_and_notifies(remote_env, monkeypatch):
    from assistant.tui.app import LiraApp
    from assistant.tui.widgets.chat_log import ChatLog
    from tests.tui_fakes import until

    settings = load_settings()
    app = LiraApp(settings, ChatBackend(settings), mode="chat", cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.models, timeout=30)
        for text in ("Привет", "Как дела?"):
            app.prompt.text = text
            await pilot.press("enter")
            await until(pilot, lambda: app.job is None, timeout=30)
        first, second = app.query_one(ChatLog).answers
        assert second.text == "Привет! Я Лира." and second.stats.new_tokens == 5
        assert "ток/с" in str(app.query_one("#status-speed").render())
        messages = remote_env.bodies("/v1/chat/completions")[-1]["messages"]
        assert [m["content"] for m in messages[1:]] == ["Привет", "Привет! Я Лира.", "Как дела?"]
        remote_env.key = "secret"  # the server now refuses Lira's key
        app.prompt.text = "Ещё"
        await pilot.press("enter")
        await until(pilot, lambda: app.job is None, timeout=30)
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert any("refused the API key" in m and remote_env.url in m for m in errors)
        assert len(app.query_one(ChatLog).answers) == 3  # the conversation is kept
