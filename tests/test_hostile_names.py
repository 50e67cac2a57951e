"""Hostile names and broken files around the edges: control characters in titles and
paths (terminal-escape injection), a history with damaged pages, an adapter manifest
of the wrong shape.  Each gives escaped text or a one-line message, never a traceback."""

from __future__ import annotations

import json
import sqlite3
import sys

import pytest

from assistant.chat.history import History, HistoryDiskError, HistoryError
from assistant.rag import Source
from assistant.safe_text import one_line, printable

HOSTILE = "\x1b[31mred\x07"
RAW = ("\x1b", "\x07", "\x9b")


def assert_no_raw_controls(text: str) -> None:
    assert not any(c in text for c in RAW), repr(text)


# ----- the escaping function --------------------------------------------------
def test_printable_escapes_every_control_character_but_kept_lines():
    assert printable(HOSTILE) == "\\x1b[31mred\\x07"
    assert printable("a\x00b\x7fc\x9bd\x85e") == "a\\x00b\\x7fc\\x9bd\\x85e"
    assert printable("a\tb") == "a b"
    assert printable("a\nb\r\nc\rd", lines=True) == "a\nb\nc\\x0dd"
    assert one_line("a\nb\r\nc\x1b") == "a b c\\x1b"
    assert printable("Пушкин — «Зимнее утро»") == "Пушкин — «Зимнее утро»"  # text is untouched


# ----- 1. `lira index`, `lira search`, `lira authors` ---------------------------
@pytest.fixture
def run(capsys, tiny_embedder_dir, lira_home):
    from assistant.cli import main

    def _run(*args):
        code = main(["--embedder", str(tiny_embedder_dir), *map(str, args)])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def test_search_authors_and_index_escape_control_characters(run, tmp_path):
    poems = tmp_path / "poems"
    poems.mkdir()
    record = {"author": f"Автор {HOSTILE}", "title": f"Заголовок {HOSTILE}",
              "text": f"Мороз и солнце; день чудесный!\nСтрока {HOSTILE}"}
    (poems / f"{HOSTILE}.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    (poems / f"{HOSTILE}.xyz").write_text("not a document")  # listed as skipped
    code, out, err = run("index", poems)
    assert code == 0, err
    assert "skipped" in out and "\\x1b[31mred\\x07.xyz" in out
    assert_no_raw_controls(out)
    code, out, err = run("search", "мороз", "--mode", "lexical")
    assert code == 0, err
    escaped = "\\x1b[31mred\\x07"
    # a document's title, author and text lose their control characters when read
    # (index.documents.clean_text); a path keeps them, escaped on display
    assert "Заголовок [31mred, Автор [31mred" in out and f"{escaped}.jsonl" in out
    assert "Строка  [31mred" in out
    assert_no_raw_controls(out)
    code, out, _ = run("search", "мороз", "--mode", "lexical", "--json")
    [hit] = json.loads(out)["results"]  # JSON keeps the exact path (escaped by JSON itself)
    assert hit["title"] == "Заголовок [31mred" and hit["author"] == "Автор [31mred"
    assert hit["path"].endswith(f"{HOSTILE}.jsonl") and "\x1b" not in hit["text"]
    code, out, _ = run("authors")
    assert code == 0 and "Автор [31mred" in out
    assert_no_raw_controls(out)


def test_answer_sources_are_escaped():
    from assistant.cli.answer_output import source_lines

    answer = type("A", (), {"sources": [Source(1, f"/d/{HOSTILE}.md", HOSTILE, "", "t", 0.5)],
                            "cited": [1], "follow_up": None})()
    lines = source_lines(answer)
    assert_no_raw_controls("\n".join(lines))
    assert "*[1] \\x1b[31mred\\x07 — /d/\\x1b[31mred\\x07.md (место 1, релевантность 1.00)" in lines


# ----- 2. the chat app ------------------------------------------------------------
@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_tui_sources_and_passage_show_no_raw_escape(tmp_path):
    from textual.widgets import OptionList

    from assistant.settings import Settings
    from assistant.tui.app import LiraApp
    from assistant.tui.screens.passage import PassageScreen
    from assistant.tui.widgets.chat_log import ChatLog
    from assistant.tui.widgets.sources import SourcesPanel
    from tests.tui_fakes import FakeBackend, until

    settings = Settings(home=tmp_path / "home")
    source = Source(1, f"/docs/{HOSTILE}.md", f"Заголовок {HOSTILE}", f"Автор {HOSTILE}",
                    f"Строка {HOSTILE}\nвторая строка", 0.5)
    app = LiraApp(settings, FakeBackend(settings, sources=[source]), mode="documents",
                  cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        pilot.app.prompt.text = "Вопрос?"
        await pilot.press("enter")
        await until(pilot, lambda: app.job is None)
        await app.workers.wait_for_complete()
        await pilot.pause()
        panel = app.query_one(SourcesPanel)
        prompt = str(panel.query_one(OptionList).get_option_at_index(0).prompt)
        assert "Заголовок \\x1b[31mred\\x07" in prompt and "Автор \\x1b[31mred\\x07" in prompt
        preview = str(panel.query_one(".panel-passage").render())
        assert preview.startswith("Строка \\x1b[31mred\\x07\nвторая строка")
        # What is drawn (the screenshot keeps each cell's character as the terminal gets it).
        assert "red" in app.export_screenshot()
        assert_no_raw_controls(app.export_screenshot())
        app.open_passage(app.query_one(ChatLog).answers[0], 1)
        await until(pilot, lambda: isinstance(app.screen, PassageScreen)
                    and bool(app.screen.query("#passage-text")))
        texts = [str(app.screen.query_one(f"#{name}").render())
                 for name in ("passage-title", "passage-meta", "passage-text")]
        assert_no_raw_controls("\n".join(texts))
        assert "\\x1b[31mred\\x07" in texts[0] and "\\x1b[31mred\\x07.md" in texts[1]
        assert_no_raw_controls(app.export_screenshot())



# ----- 3. a history with damaged pages ----------------------------------------------
def damaged_history(path) -> bytes:
    """A history whose header is intact and whose later pages are overwritten."""
    history = History.open(path)
    for n in range(40):
        conversation = history.create_conversation("chat", f"Разговор {n} " + "x" * 400)
        history.add_question(conversation, "вопрос " * 300, "chat")
    history.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    history.close()
    data = bytearray(path.read_bytes())
    for page in range(2, len(data) // 4096, 3):
        data[page * 4096:page * 4096 + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    return bytes(data)


def test_a_history_with_damaged_pages_is_refused_at_open(tmp_path):
    path = tmp_path / "history.sqlite"
    damaged_history(path)
    with pytest.raises(HistoryError) as caught:
        History.open(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and "move it away" in message


def test_a_failing_read_or_write_is_one_line_naming_the_file(tmp_path):
    class Failing:
        def __init__(self, exc):
            self.exc = exc

        def execute(self, *args):
            raise self.exc

    path = tmp_path / "history.sqlite"
    for exc, advice in [(sqlite3.DatabaseError("database disk image is malformed"), "move it away"),
                        (sqlite3.OperationalError("database or disk is full"), "free some disk"),
                        (sqlite3.OperationalError("database is locked"), "another Lira")]:
        history = History(path, Failing(exc))
        for call in (history.latest, lambda h=history: h.messages(1),
                     lambda h=history: h.add_question(1, "q", "chat")):
            with pytest.raises(HistoryDiskError) as caught:
                call()
            assert isinstance(caught.value, sqlite3.Error)  # the app's "history unavailable" path
            assert str(path) in str(caught.value) and advice in str(caught.value)


def test_lira_chat_resume_on_a_damaged_history_keeps_it_and_goes_on(lira_home, monkeypatch,
                                                                   capsys):
    from assistant import cli
    from assistant.chat import backend
    from assistant.tui.app import LiraApp
    from tests.tui_fakes import FakeBackend

    lira_home.mkdir(parents=True)
    path = lira_home / "history.sqlite"
    damaged = damaged_history(path)
    seen = {}

    async def look_and_quit(pilot):
        await pilot.pause()
        app = pilot.app
        seen.update(notes=[n.message for n in app._notifications], resume=app.resume,
                    history=str(app.history.path))
        app.exit()

    real_run = LiraApp.run
    monkeypatch.setattr(LiraApp, "run", lambda self: real_run(self, headless=True,
                                                              auto_pilot=look_and_quit))
    monkeypatch.setattr(backend, "ChatBackend", FakeBackend)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    assert cli.main(["chat", "--resume", "--mode", "chat"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "malformed" not in err
    assert seen["resume"] and seen["history"] == ":memory:"  # this session is not saved
    [note] = [n for n in seen["notes"] if str(path) in n]
    assert "damaged" in note and "move it away" in note and "\n" not in note
    assert path.read_bytes() == damaged  # the old file is kept as it was


# ----- 4. an adapter manifest of the wrong shape --------------------------------------
@pytest.mark.usefixtures("one_torch_thread")
def test_a_manifest_of_the_wrong_shape_is_one_line_and_listed_as_broken(capsys, lira_home,
                                                                        tiny_models):
    from assistant.cli import main
    from tests.conftest import make_adapter, one_line_error

    folder = make_adapter(tiny_models["gpt2"], "gpt2", "lora", lira_home / "adapters" / "odd")
    (folder / "lira-adapter.json").write_text('{"base": "just a string"}')
    code = main(["--model", str(tiny_models["gpt2"]), "ask", "Вопрос?", "--no-rag",
                 "--adapter", "odd", "--max-new-tokens", "2"])
    line = one_line_error(code, capsys.readouterr().err)
    assert "lira-adapter.json" in line and "'base' is a string, not an object" in line
    assert main(["adapters", "list"]) == 0
    out = capsys.readouterr().out
    [row] = [r for r in out.splitlines() if r.startswith("odd ")]
    assert "BROKEN" in row and "'base' is a string" in row
    assert main(["adapters", "list", "--json"]) == 0
    [entry] = [e for e in json.loads(capsys.readouterr().out) if e["name"] == "odd"]
    assert "not an adapter manifest" in entry["problem"]


def test_adapters_list_escapes_folder_names(capsys, lira_home):
    from assistant.cli import main

    (lira_home / "adapters" / HOSTILE).mkdir(parents=True)  # not an adapter: listed as broken
    assert main(["adapters", "list"]) == 0
    out = capsys.readouterr().out
    assert "\\x1b[31mred\\x07" in out and "BROKEN" in out
    assert_no_raw_controls(out)


def test_an_error_line_naming_a_hostile_folder_is_escaped(run, tmp_path):
    folder = tmp_path / "\x1b[2Jgone"
    code, _, err = run("index", folder)
    assert code == 1 and "\x1b" not in err
    assert err.strip().splitlines()[-1].startswith("lira: error: ")
    assert err.strip().splitlines()[-1].endswith("\\x1b[2Jgone")
