"""End to end with the bundled models: index XQuAD paragraphs, search, ask, chat."""

import json
import os
import subprocess
import sys

import pytest

from assistant.cli import main
from tests.conftest import REPO, shared_data

pytestmark = pytest.mark.bundled


@pytest.fixture(scope="module")
def squad_sample(tmp_path_factory):
    """24 paragraphs as .txt files and one question per paragraph (real ones: the retrieval
    rates below are measured on them)."""
    xquad = shared_data("xquad-ru/xquad.ru.dev36.json")
    data = json.loads(xquad.read_text(encoding="utf-8"))["data"]
    folder = tmp_path_factory.mktemp("xquad")
    questions = []
    paragraphs = [(a["title"], p) for a in data[:8] for p in a["paragraphs"][:3]]
    for n, (_title, paragraph) in enumerate(paragraphs):
        path = folder / f"{n:02d}.txt"
        path.write_text(paragraph["context"], encoding="utf-8")
        questions.append((paragraph["qas"][0]["question"], path.name))
    return folder, questions


def lira(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_index_and_search_finds_the_gold_paragraph(bundled_settings, squad_sample, capsys):
    folder, questions = squad_sample
    summary = json.loads(lira(capsys, "index", folder, "--json"))
    assert summary["added"] == len(questions) and not summary["skipped"]
    found_at_1 = found_at_5 = 0
    for question, gold in questions:
        hits = json.loads(lira(capsys, "search", question, "-k", "5", "--json"))["results"]
        names = [os.path.basename(h["path"]) for h in hits]
        found_at_1 += names[:1] == [gold]
        found_at_5 += gold in names
    # A real multilingual embedder plus BM25 finds most gold paragraphs among 24.
    assert found_at_5 / len(questions) >= 0.85
    assert found_at_1 / len(questions) >= 0.6


def test_ask_answers_with_numbered_sources(bundled_settings, squad_sample, capsys):
    folder, questions = squad_sample
    lira(capsys, "index", folder, "--json")
    answer = json.loads(lira(capsys, "ask", questions[0][0], "-k", "3", "--json",
                             "--max-new-tokens", "24"))
    assert answer["retrieval"] is True and [s["n"] for s in answer["sources"]] == [1, 2, 3]
    gold = [s["n"] for s in answer["sources"] if s["path"].endswith(questions[0][1])]
    assert gold, "the gold paragraph is among the sources"
    # the bundled chat adapter answers in the trained shape: a short answer citing [n]
    assert answer["answer"].strip() and answer["cited"]
    assert f"[{answer['cited'][0]}]" in answer["answer"]
    report = answer["grounding"]  # checked against its sources, as lira ask does by default
    assert report["sentences"] and 0.0 <= report["score"] <= 1.0
    assert answer["stats"]["new_tokens"] >= 1 and answer["stats"]["first_token_s"] > 0


def test_chat_loop_in_a_real_process(bundled_settings, lira_home):
    env = dict(os.environ, LIRA_HOME=str(lira_home), LIRA_MAX_NEW_TOKENS="12")
    result = subprocess.run([sys.executable, "-m", "assistant.cli", "chat", "--plain"], cwd=REPO,
                            env=env, input="Что такое лира?\n\n", capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Лира" in result.stdout and "without retrieval" in result.stderr


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_chat_app_with_bundled_models(bundled_settings, squad_sample, anyio_backend):
    """The Textual app over the real engine and bundled models: index, ask, stream, cite."""
    from assistant.chat.backend import ChatBackend
    from assistant.tui.app import LiraApp
    from assistant.tui.widgets.chat_log import ChatLog
    from tests.tui_fakes import until

    folder, questions = squad_sample
    bundled_settings.max_new_tokens = 16
    app = LiraApp(bundled_settings, ChatBackend(bundled_settings), mode="documents",
                  cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.prompt.text = f"/index {folder}"
        await pilot.press("enter")
        await until(pilot, lambda: app.indexing is None and app.session.index_name, timeout=240)
        await until(pilot, lambda: app.models, timeout=240)
        assert "gemma-3-270m" in str(app.query_one("#status-model").render())
        app.prompt.text = questions[0][0]
        await pilot.press("enter")
        await until(pilot, lambda: app.job is None and app.query_one(ChatLog).answers, timeout=240)
        await pilot.pause()
        answer = app.query_one(ChatLog).answers[0]
        assert [s.n for s in answer.sources][:3] == [1, 2, 3]
        assert answer.stats is not None and answer.stats.new_tokens >= 1


def test_models_prepare_exports_the_bundled_adapters_for_llama_cpp(bundled_settings, capsys):
    """`make chat` runs `lira models --prepare`: both bundled adapters are merged into
    copies of the base for llama.cpp once, and a poem then runs there with its fluency
    read from llama.cpp."""
    from assistant.runtime.llama_engine import llama_available

    if not llama_available():
        pytest.skip("llama-cpp-python is not installed (make setup builds it)")
    lira(capsys, "models", "--prepare")
    exports = bundled_settings.models_dir / "gguf"
    (chat,) = exports.glob("merged-chat-*.gguf")
    (poet,) = exports.glob("merged-poet-*.gguf")
    made = poet.stat().st_mtime
    poem = json.loads(lira(capsys, "poem", "--author", "Пушкин", "--title", "Осень", "--json",
                           "--candidates", "2", "--max-new-tokens", "24", "-k", "0"))
    assert poem["model"] == {"reference": "gemma-3-270m", "adapter": "poet"}
    # fluency is the model's own log-probability (a model with none to read scores 0.0)
    assert poem["poem"].strip() and all(c["fluency"] < 0 for c in poem["scores"])
    assert poet.stat().st_mtime == made  # exported once: the poem found it
