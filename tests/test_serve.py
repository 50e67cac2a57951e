"""`lira serve` end to end: a real uvicorn subprocess with tiny models, driven by the
official `openai` client (which this project did not write) and by plain httpx."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.conftest import REPO, one_line_error

KEY = "test-key-not-secret"
MAX_TOKENS = 900  # the serve.max_tokens of the test server: long generations hold the queue


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"lira serve exited: {log.read_text(encoding='utf-8')}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("lira serve did not become healthy")


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_models, tiny_embedder_dir):
    """A `lira serve` subprocess over an index of two documents: (base URL, process)."""
    home = tmp_path_factory.mktemp("serve-home")
    docs = tmp_path_factory.mktemp("serve-docs")
    (docs / "moscow.txt").write_text("Москва — столица России.", encoding="utf-8")
    (docs / "spb.md").write_text("# Петербург\n\nПетербург основан в 1703 году.",
                                 encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIRA_")}
    env.update(LIRA_HOME=str(home), LIRA_CHAT_MODEL=str(tiny_models["gpt2"]),
               LIRA_POEM_MODEL=str(tiny_models["llama"]), LIRA_EMBEDDER=str(tiny_embedder_dir),
               LIRA_NLI="none", LIRA_API_KEY=KEY, LIRA_SERVE_QUEUE="1",
               LIRA_SERVE_MAX_TOKENS=str(MAX_TOKENS), HF_HUB_OFFLINE="1")
    indexed = subprocess.run([sys.executable, "-m", "assistant.cli", "index", str(docs)],
                             env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert indexed.returncode == 0, indexed.stderr
    port = free_port()
    log = home / "serve.log"  # a file, not a pipe: a full pipe would stall the server
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve", "--port",
                                    str(port)], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                   stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "Traceback" not in log.read_text(encoding="utf-8")  # no request hit a bug


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0, timeout=60)


QUESTION = [{"role": "user", "content": "Когда основан Петербург?"}]


def test_models_are_lira_modes(client):
    ids = [m.id for m in client.models.list()]
    assert ids == ["lira-documents", "lira-chat", "lira-poem"]


def test_documents_answer_with_sources_and_grounding(client):
    response = client.chat.completions.create(model="lira-documents", messages=QUESTION,
                                              max_tokens=8)
    text = response.choices[0].message.content
    assert isinstance(text, str) and response.choices[0].finish_reason in ("stop", "length")
    extra = response.model_dump()
    sources = extra["sources"]
    # one entry per document; the passages as the prompt numbered them, each naming its own
    assert sources and {"n", "path", "title", "author", "rank", "relevance",
                        "passages"} <= set(sources[0])
    assert any(s["path"].endswith("spb.md") for s in sources)
    assert len({s["path"] for s in sources}) == len(sources)
    assert {p["document"] for p in extra["passages"]} == {s["n"] for s in sources}
    assert all(n in {s["n"] for s in sources} for n in extra["cited"])
    grounding = extra["grounding"]
    assert grounding is None if not text.strip() else {"score", "sentences"} <= set(grounding)
    assert response.usage.completion_tokens <= 8
    assert extra["searched"] is None  # a question that stands alone is searched as it is


def test_a_documents_follow_up_is_read_in_the_conversation(client):
    response = client.chat.completions.create(
        model="lira-documents", max_tokens=4,
        messages=[*QUESTION, {"role": "assistant", "content": "В 1703 году [1]."},
                  {"role": "user", "content": "А кто его основал?"}])
    searched = response.model_dump()["searched"]
    assert searched.startswith("А кто его основал?") and "Петербург" in searched


def test_streamed_answer_ends_with_sources(client):
    chunks = list(client.chat.completions.create(
        model="lira-documents", messages=[{"role": "assistant", "content": "Здравствуйте."},
                                          *QUESTION], max_tokens=8, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    last = chunks[-1].model_dump()
    assert last["sources"] and "grounding" in last
    whole = client.chat.completions.create(model="lira-documents", messages=QUESTION,
                                           max_tokens=8)
    assert text == whole.choices[0].message.content  # greedy: the same answer either way


def test_chat_poem_completions_and_embeddings(client):
    chat = client.chat.completions.create(model="lira-chat", max_tokens=4, messages=[
        {"role": "system", "content": "ignored"}, {"role": "user", "content": "Привет"},
        {"role": "assistant", "content": "Здравствуйте"}, {"role": "user", "content": "Как дела?"}])
    assert chat.model_dump()["sources"] == []
    text = client.completions.create(model="lira-chat", prompt="Москва —", max_tokens=4)
    assert isinstance(text.choices[0].text, str) and text.usage.completion_tokens <= 4
    vectors = client.embeddings.create(model="lira-documents", input=["Москва", "Петербург"])
    assert [len(d.embedding) for d in vectors.data] == [32, 32]


def test_poem_without_an_author_is_a_400(client):
    from openai import BadRequestError

    with pytest.raises(BadRequestError) as caught:
        client.chat.completions.create(model="lira-poem", max_tokens=4,
                                       messages=[{"role": "user", "content": "Осень"}])
    assert "author" in caught.value.message


def test_keys_are_required_and_checked(server):
    from openai import AuthenticationError, OpenAI

    wrong = OpenAI(base_url=f"{server}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(AuthenticationError):
        wrong.models.list()
    response = httpx.get(f"{server}/v1/models")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert KEY not in response.text


def post(server: str, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEY}", **kwargs.pop("headers", {})}
    return httpx.post(f"{server}/v1/{path}", headers=headers, timeout=60, **kwargs)


@pytest.mark.parametrize(("body", "status", "param"), [
    (b"{not json", 400, None),
    (b'{"model": "lira-chat", "messages": []}', 422, "messages"),
    (b'{"model": "lira-chat", "messages": [{"role": "user", "content": "a"}], '
     b'"max_tokens": 100000}', 422, "max_tokens"),
    (b'{"model": "lira-documents", "messages": [{"role": "user", "content": "a"}], "k": 1000}',
     422, "k"),
    (b'{"model": "gpt-4", "messages": [{"role": "user", "content": "a"}]}', 404, "model"),
    (b'{"model": "lira-documents:../etc", "messages": [{"role": "user", "content": "a"}]}',
     404, "model"),
])
def test_bad_requests_get_error_objects(server, body, status, param):
    response = post(server, "chat/completions", content=body,
                    headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param
    assert "Traceback" not in response.text


def test_a_too_large_body_is_a_413(server):
    response = post(server, "embeddings", json={"model": "lira-documents",
                                                "input": "я" * 200_000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


LONG = {"model": "lira-chat", "prompt": "Москва", "max_tokens": MAX_TOKENS}


def long_stream(server: str) -> httpx.Response:
    """A streamed raw completion long enough to hold the compute thread a while."""
    request = httpx.Request("POST", f"{server}/v1/completions",
                            headers={"Authorization": f"Bearer {KEY}"},
                            json={**LONG, "stream": True})
    return httpx.Client(timeout=60).send(request, stream=True)


def test_a_full_queue_answers_429(server):
    running = long_stream(server)  # runs
    waiting = []
    threading.Thread(target=lambda: waiting.append(long_stream(server))).start()
    deadline = time.monotonic() + 10
    while health(server)["requests"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    refused = post(server, "completions", json={"model": "lira-chat", "prompt": "a",
                                                "max_tokens": 1})
    running.close()
    while not waiting:
        time.sleep(0.02)
    waiting[0].close()
    assert refused.status_code == 429, refused.text
    assert refused.headers["Retry-After"].isdigit()
    assert refused.json()["error"]["type"] == "rate_limit_error"


def health(server: str) -> dict:
    return httpx.get(f"{server}/health").json()


def test_a_client_that_hangs_up_frees_the_compute_thread(server):
    full = post(server, "completions", json=LONG)
    assert full.json()["usage"]["completion_tokens"] == MAX_TOKENS  # greedy: as long each time
    cancelled = health(server)["cancelled"]
    with socket.create_connection(("127.0.0.1", int(server.rsplit(":", 1)[1]))) as held:
        body = json.dumps({**LONG, "stream": True}).encode()
        held.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: lira\r\n"
                     b"Authorization: Bearer " + KEY.encode() + b"\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        seen = b""
        while b"data: " not in seen:  # generation has begun; then the client hangs up
            seen += held.recv(4096)
    quick = post(server, "completions", json={"model": "lira-chat", "prompt": "a",
                                              "max_tokens": 1})
    assert quick.status_code == 200 and quick.json()["usage"]["completion_tokens"] == 1
    after = health(server)
    assert after["cancelled"] == cancelled + 1 and after["requests"] == 0, after


def test_a_non_local_host_needs_a_key(run):
    port = free_port()
    code, out, err = run("serve", "--host", "0.0.0.0", "--port", str(port))
    line = one_line_error(code, err)
    assert code == 1 and "--api-key" in line and out == ""
    with socket.socket() as sock:  # refused before anything was bound
        sock.bind(("0.0.0.0", port))


def test_help_lists_serve(run):
    code, out, _ = run("serve", "--help")
    assert code == 0 and "--api-key" in out and "--queue" in out


def test_a_prompt_past_the_window_is_a_400_before_the_stream(client):
    from openai import BadRequestError

    with pytest.raises(BadRequestError) as caught:
        client.completions.create(model="lira-chat", prompt="Москва " * 400,
                                  max_tokens=MAX_TOKENS, stream=True)
    assert "window" in caught.value.message


def test_model_names_list_other_indexes(tmp_path):
    from assistant.server.api_errors import ApiError
    from assistant.server.modes import model_names, parse_model
    from assistant.settings import Settings

    settings = Settings(home=tmp_path)
    for name in ("default", "poems"):
        (settings.indexes_dir / name).mkdir(parents=True)
    assert model_names(settings) == ["lira-documents", "lira-documents:poems", "lira-chat",
                                     "lira-poem"]
    assert parse_model("lira-documents:poems", "default").index_name == "poems"
    assert parse_model("lira-documents", "default").index_name == "default"
    for bad in ("lira-chat:poems", "lira-", "documents", "lira-documents:a/b"):
        with pytest.raises(ApiError) as caught:
            parse_model(bad, "default")
        assert caught.value.status == 404


def test_lira_itself_answers_through_lira_serve(server, run, monkeypatch, tiny_embedder_dir, tmp_path):
    """Lira's own openai: backend pointed at `lira serve`: retrieval and the RAG prompt here,
    generation there (its lira-chat mode), the answer and its numbered sources back here."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "spb.md").write_text("# Петербург\n\nПетербург основан в 1703 году.", encoding="utf-8")
    (docs / "moscow.txt").write_text("Москва — столица России.", encoding="utf-8")
    for name, value in {"LIRA_CHAT_MODEL": "openai:lira-chat", "LIRA_CHAT_BASE_URL": f"{server}/v1",
                        "LIRA_API_KEY": KEY, "LIRA_EMBEDDER": str(tiny_embedder_dir),
                        "LIRA_NLI": "none"}.items():
        monkeypatch.setenv(name, value)
    assert run("index", docs)[0] == 0
    code, out, err = run("ask", "Когда основан Петербург?", "-k", "2", "--max-new-tokens", "8", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["model"] == {"reference": "openai:lira-chat", "adapter": None}
    assert {Path(s["path"]).name for s in answer["sources"]} == {"spb.md", "moscow.txt"}
    assert isinstance(answer["answer"], str) and answer["stats"]["new_tokens"] > 0
    monkeypatch.setenv("LIRA_API_KEY", "wrong")
    line = one_line_error(*run("ask", "Когда основан Петербург?", "--json")[::2])
    assert server in line  # the URL it could not use, and why
