"""The `lira` command end to end with tiny models: outputs, JSON shapes and one-line errors."""

import json
import subprocess
import sys
import threading

import pytest

from assistant.cli import main
from tests.conftest import one_line_error


@pytest.fixture
def run(capsys, tiny_models, tiny_embedder_dir, lira_home):
    """Run `lira` in-process with tiny models; returns (exit code, stdout, stderr)."""
    base = ["--embedder", str(tiny_embedder_dir), "--model", str(tiny_models["gpt2"])]

    def _run(*args, tiny=True):
        code = main((base if tiny else []) + [str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def test_help_is_fast_and_imports_nothing_heavy():
    probe = ("import sys, assistant.cli as c; c.main(['--help']);"
             "print('HEAVY', sorted(m for m in ('torch', 'transformers', 'faiss', 'peft', "
             "'sentence_transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "Usage: lira" in result.stdout
    assert "HEAVY []" in result.stdout


def test_index_search_ask_json(run, docs):
    code, out, _ = run("index", docs, "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["added"] == 2 and summary["chunks"] >= 2
    code, out, _ = run("search", "Москва — столица России.", "-k", "2", "--json")
    result = json.loads(out)
    assert code == 0 and result["query"] == "Москва — столица России."
    first = result["results"][0]
    assert set(first) == {"rank", "score", "path", "title", "author", "text"}
    assert first["path"].endswith("moscow.txt") and first["rank"] == 1
    code, out, _ = run("ask", "Какая столица России?", "-k", "2", "--json",
                       "--max-new-tokens", "8")
    answer = json.loads(out)
    assert code == 0 and answer["retrieval"] is True
    # one entry per document (the two files), the passages as the prompt numbered them
    assert [s["n"] for s in answer["sources"]] == [1, 2]
    assert set(answer["sources"][0]) == {"n", "path", "title", "author", "rank", "relevance",
                                         "passages"}
    assert [s["rank"] for s in answer["sources"]] == [1, 2]
    assert answer["sources"][0]["relevance"] >= answer["sources"][1]["relevance"]
    assert {p["document"] for p in answer["passages"]} == {1, 2}
    stats = answer["stats"]
    assert answer["answer"].strip() and stats["prompt_tokens"] > stats["new_tokens"] > 0
    # --max-new-tokens is honoured, and the stop reason says when it was reached
    assert stats["new_tokens"] <= 8
    assert (stats["stopped_by"] == "max tokens") == (stats["new_tokens"] == 8)


def test_ask_session_reads_the_next_question_as_a_follow_up(run, docs, lira_home):
    from assistant.chat.history import HISTORY_FILE, History

    run("index", docs)
    code, out, err = run("ask", "Когда основан Петербург?", "--session", "город", "--json",
                         "--max-new-tokens", "3", "--no-check")
    first = json.loads(out)
    assert code == 0, err
    assert first["searched"] == "Когда основан Петербург?"
    code, out, err = run("ask", "А что там ещё есть?", "--session", "город", "--json",
                         "--max-new-tokens", "3", "--no-check")
    follow = json.loads(out)
    assert code == 0, err
    assert follow["searched"].startswith("А что там ещё есть?") and "Петербург" in follow["searched"]
    # without --session the same question stands alone; another session is its own
    code, out, _ = run("ask", "А что там ещё есть?", "--json", "--max-new-tokens", "3",
                       "--no-check")
    assert json.loads(out)["searched"] == "А что там ещё есть?"
    code, out, _ = run("ask", "А что там ещё есть?", "--session", "другой", "--json",
                       "--max-new-tokens", "3", "--no-check")
    assert json.loads(out)["searched"] == "А что там ещё есть?"
    history = History.open(lira_home / HISTORY_FILE)
    session = history.session("город", "documents")
    stored = history.messages(session)
    assert [m.role for m in stored] == ["user", "assistant"] * 2
    assert stored[3].searched == follow["searched"] and stored[1].sources
    code, _, err = run("ask", "Что?", "--session", " ")
    assert code == 2 and "--session needs a name" in err


def test_ask_without_index_says_so(run):
    code, out, _ = run("ask", "Что такое лира?", "--json", "--max-new-tokens", "4")
    answer = json.loads(out)
    assert code == 0 and answer["retrieval"] is False and answer["sources"] == []
    assert "without retrieval" in answer["note"]


def test_ask_plain_text_lists_sources(run, docs):
    run("index", docs)
    code, out, err = run("ask", "Когда основан Петербург?", "--max-new-tokens", "4")
    assert code == 0, err
    listed = out.split("\nИсточники:\n", 1)[1].splitlines()[:2]
    assert [line.lstrip(" *")[:4] for line in listed] == ["[1] ", "[2] "]
    assert sorted(line.rsplit(" (", 1)[0].rsplit("/", 1)[1] for line in listed) == ["moscow.txt",
                                                                                      "spb.md"]
    assert "(место 1, релевантность " in listed[0]


def test_ask_json_carries_the_check_of_the_answer(run, docs):
    run("index", docs)
    code, out, err = run("ask", "Когда основан Петербург?", "--json", "--max-new-tokens", "12")
    answer = json.loads(out)
    assert code == 0, err
    grounding = answer["grounding"]
    assert grounding is not None and 0.0 <= grounding["score"] <= 1.0
    for sentence in grounding["sentences"]:
        assert sentence["verdict"] in ("supported", "contradicted", "unsupported")
    code, out, _ = run("ask", "Когда основан Петербург?", "--json", "--max-new-tokens", "4",
                       "--no-check")
    assert json.loads(out)["grounding"] is None
    code, out, _ = run("ask", "Когда?", "--no-rag", "--json", "--max-new-tokens", "4")
    assert json.loads(out)["grounding"] is None  # nothing to check an answer against


def test_ask_prints_a_repaired_answer_in_document_numbers(tmp_path, capsys):
    from assistant.cli.answer_output import print_answer
    from assistant.engine import Engine, PreparedAnswer
    from assistant.grounding import check_answer
    from assistant.rag import Source
    from assistant.settings import Settings
    from tests.tui_fakes import FakeStream

    # passages 1 and 3 are chunks of one file: document [1]; passage 2 is document [2]
    sources = [Source(1, "/d/spb.md", "Петербург", "", "Петербург основан в 1703 году.", 0.03),
               Source(2, "/d/moscow.txt", "Москва", "", "Москва — столица России.", 0.016),
               Source(3, "/d/spb.md", "Петербург", "", "Летом в Петербурге белые ночи.", 0.015)]
    engine = Engine(Settings(home=tmp_path / "home", on_unsupported="drop"))
    engine.check_answer = lambda text, found, question=None: check_answer(text, found)  # rules only
    stream = FakeStream(["Летом в Петербурге белые ночи [3]. ",
                         "Луна сделана из зелёного сыра и пахнет морем [2]."],
                        threading.Event(), None, None, 0.0)
    answer = print_answer(engine, PreparedAnswer("Расскажи о Петербурге.", "", sources, stream),
                          as_json=False, check=True)
    out = capsys.readouterr().out
    assert answer.text == "Летом в Петербурге белые ночи [3]." and answer.repair is not None
    streamed, repaired = out.split("Исправление: ", 1)
    assert streamed.startswith("Летом в Петербурге белые ночи [1]. Луна")  # as it streamed
    assert repaired.splitlines()[0] == answer.repair.note
    assert repaired.splitlines()[1] == "Летом в Петербурге белые ночи [1]."  # printed again


def test_no_rag_skips_retrieval(run, docs):
    run("index", docs)
    code, out, _ = run("ask", "Когда?", "--no-rag", "--json", "--max-new-tokens", "4")
    answer = json.loads(out)  # the index would have found both files
    assert code == 0 and answer["sources"] == [] and answer["retrieval"] is False


def test_missing_path_is_one_line(run, tmp_path):
    code, _, err = run("index", tmp_path / "nowhere")
    assert "no such file or folder" in one_line_error(code, err)


def test_empty_folder_is_an_error(run, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = run("index", tmp_path / "empty")
    assert "nothing indexed" in one_line_error(code, err)


def test_ask_json_names_the_model_and_adapter_that_answered(run, tiny_models):
    code, out, err = run("--model", tiny_models["gpt2"], "ask", "Вопрос?", "--no-rag", "--json",
                         "--max-new-tokens", "4")
    assert code == 0, err
    assert json.loads(out)["model"] == {"reference": str(tiny_models["gpt2"]), "adapter": None}


def test_ask_takes_the_decoding_of_the_seed(run, tiny_models):
    ask = ("--model", tiny_models["t5"], "ask", "Вопрос?", "--no-rag", "--json", "--max-new-tokens", "4")
    code, out, err = run(*ask, "--beams", "4", "--temperature", "0.2", "--top-k", "30", "--top-p", "0.95")
    assert code == 0, err
    assert json.loads(out)["stats"]["new_tokens"] <= 4
    line = one_line_error(*run(*ask, "--beams", "40")[::2])
    assert "decoding.num_beams must be an integer from 1 to 16" in line


def test_unknown_model_names_what_was_tried(run):
    code, _, err = run("--model", "nobody/no-such-model", "ask", "Вопрос?", "--no-rag")
    line = one_line_error(code, err)
    assert "nobody/no-such-model" in line and "Hugging Face cache" in line and "bundled" in line


def test_broken_adapter_is_one_line(run, tmp_path):
    (tmp_path / "adapter").mkdir()
    code, _, err = run("ask", "Вопрос?", "--no-rag", "--adapter", tmp_path / "adapter")
    assert "not an adapter folder" in one_line_error(code, err)


def test_search_with_other_embedder_is_refused(run, docs, tiny_embedder_dir, tmp_path):
    import shutil

    run("index", docs)
    other = tmp_path / "other-embedder"
    shutil.copytree(tiny_embedder_dir, other)
    code, _, err = run("--embedder", other, "search", "Москва")
    assert "built with embedder" in one_line_error(code, err)


def test_a_document_past_max_text_chars_is_listed_as_indexed_in_part(run, docs, monkeypatch):
    (docs / "long.txt").write_text("Москва — столица России.\n" * 100, encoding="utf-8")
    monkeypatch.setenv("LIRA_MAX_TEXT_CHARS", "1000")
    code, out, _ = run("index", docs)
    assert code == 0
    [line] = [x for x in out.splitlines() if "in part" in x]
    assert "long.txt" in line and "max_text_chars (1,000)" in line


@pytest.mark.parametrize("query", ["", "  \n\t"])
def test_an_empty_query_is_an_error_not_a_passage(run, docs, query):
    assert run("index", docs)[0] == 0
    code, out, err = run("search", query)
    assert "empty query" in one_line_error(code, err) and out == ""


def test_search_empty_or_missing_index(run):
    code, _, err = run("search", "Москва", "--name", "nothing-here")
    assert "lira index" in one_line_error(code, err)


def test_debug_shows_traceback(run, tmp_path):
    code, _, err = run("--debug", "index", tmp_path / "nowhere")
    assert code == 1 and "Traceback" in err


def test_models_lists_profiles(run, tiny_models):
    code, out, _ = run("models", "--json")
    rows = {row["role"]: row for row in json.loads(out)}
    assert code == 0
    assert rows["chat"]["source"] == "local folder"
    assert rows["chat"]["path"] == str(tiny_models["gpt2"].resolve())
    assert rows["poem"]["reference"] == "gemma-3-270m"
    assert rows["poem"]["source"] in ("bundled", "bundled (not prepared yet)", "HF cache")
    # auto: the bundled chat adapter is for gemma-3-270m, not for this tiny model
    assert rows["chat adapter"]["source"].startswith("base model alone")
    assert rows["chat adapter"]["path"] is None


def test_bad_setting_is_one_line(run, lira_home):
    lira_home.mkdir(parents=True, exist_ok=True)
    (lira_home / "lira.toml").write_text("k = 'many'\n", encoding="utf-8")
    code, _, err = run("models")
    assert "k must be an integer from 1 to 100" in one_line_error(code, err)


def test_batch_search_prints_one_json_line_per_query(run, docs, tmp_path):
    run("index", docs)
    queries = tmp_path / "queries.txt"
    queries.write_text('Москва — столица России.\n\n{"query": "Петербург", "mode": "lexical"}\n'
                       '{"query": "Петербург", "path": "*/moscow.txt", "mode": "lexical"}\n',
                       encoding="utf-8")
    code, out, _ = run("search", "--queries", queries, "-k", "2")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["query"] for r in lines] == ["Москва — столица России.",
                                                          "Петербург", "Петербург"]
    assert lines[1]["results"][0]["path"].endswith("spb.md")
    assert lines[2]["results"] == []  # the path filter excludes the only match


def test_batch_search_bad_record_is_one_line(run, docs, tmp_path):
    run("index", docs)
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"query": "ok"}\n{"author": "no query"}\n', encoding="utf-8")
    code, _, err = run("search", "--queries", queries)
    assert ":2:" in one_line_error(code, err)


def test_search_filters_from_flags(run, docs):
    run("index", docs)
    code, out, _ = run("search", "Петербург основан", "--path", "*.md", "--json")
    paths = [r["path"] for r in json.loads(out)["results"]]
    assert code == 0 and paths and all(p.endswith(".md") for p in paths)


def test_authors_of_a_plain_index_says_none(run, docs):
    run("index", docs)
    code, out, _ = run("authors")
    assert code == 0 and "no authors" in out


def test_ruslit_layout_gives_authors(run, tmp_path):
    poems = tmp_path / "poems" / "Pushkin"
    poems.mkdir(parents=True)
    (poems / "a.txt").write_text("Александр Пушкин\nЗимнее утро\n\nМороз и солнце; день чудесный!",
                                 encoding="utf-8")
    (poems / "b.txt").write_text("Александр Пушкин\nПророк\n\nДуховной жаждою томим",
                                 encoding="utf-8")
    code, _, err = run("index", tmp_path / "poems", "--layout", "ruslit")
    assert code == 0, err
    code, out, _ = run("authors", "--json")
    assert json.loads(out) == [{"author": "Александр Пушкин", "count": 2}]
    code, out, _ = run("search", "мороз", "--author", "пушкин", "--mode", "lexical", "--json")
    assert json.loads(out)["results"][0]["title"] == "Зимнее утро"


def test_adapter_by_name_from_lira_home(run, lira_home, tiny_models):
    from tests.conftest import make_adapter

    make_adapter(tiny_models["gpt2"], "gpt2", "lora", lira_home / "adapters" / "mine")
    code, out, err = run("ask", "Вопрос?", "--no-rag", "--adapter", "mine", "--json",
                         "--max-new-tokens", "3")
    assert code == 0, err
    code, _, err = run("ask", "Вопрос?", "--no-rag", "--adapter", "absent")
    assert "does not exist" in one_line_error(code, err)


def test_every_command_in_the_table_loads_under_its_own_name():
    import click

    from assistant.cli.root import COMMANDS, cli

    ctx = click.Context(cli)
    for name in COMMANDS:
        assert cli.get_command(ctx, name).name == name
    assert cli.get_command(ctx, "nope") is None


def test_lira_chat_loads_only_its_own_command_module():
    probe = ("import sys; from assistant.cli import main; main(['chat', '--help']); "
             "print('LOADED', sorted(m for m in sys.modules if m.startswith('assistant.cli.')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    loaded = result.stdout.split("LOADED", 1)[1].strip()
    assert loaded == "['assistant.cli.answers', 'assistant.cli.root']"


def test_a_mistyped_command_gets_a_suggestion(run):
    code, _, err = run("seach", "x")
    assert code == 2 and "No such command 'seach'. Did you mean 'search'?" in err


@pytest.mark.parametrize("env,value,needle", [
    ("LIRA_K", "-1", "k must be an integer from 1 to 100 (LIRA_K=-1)"),
    ("LIRA_DEVICE", "junk", "device must be one of auto|cpu|cuda (LIRA_DEVICE=junk)"),
    ("LIRA_CHUNK_TOKENS", "0", "chunk_tokens must be an integer from 8 to 2048 (LIRA_CHUNK_TOKENS=0)"),
    ("LIRA_CHUNK_OVERLAP", "500", "chunk_overlap must be smaller than chunk_tokens (LIRA_CHUNK_OVERLAP=500"),
    ("LIRA_MAX_FILE_MB", "-1", "max_file_mb must be a number greater than 0"),
    ("LIRA_MAX_NEW_TOKENS", "0", "max_new_tokens must be an integer from 1 to 4096 (LIRA_MAX_NEW_TOKENS=0)"),
    ("LIRA_CHAT_QUANTIZATION", "3bit", "chat.quantization must be one of none|8bit|4bit"),
    ("LIRA_DEBUG", "junk", "debug must be true or false (also yes/no, on/off, 1/0) (LIRA_DEBUG=junk)"),
    ("LIRA_INDEX_NAME", "../../x", "index_name must be a plain name"),
])
def test_a_bad_setting_value_is_one_line_naming_it(run, docs, monkeypatch, env, value, needle):
    monkeypatch.setenv(env, value)
    for args in (["index", docs], ["search", "Москва"], ["ask", "Где Москва?"]):
        code, out, err = run(*args)
        assert code == 1 and out == ""
        assert needle in one_line_error(code, err)
        assert err.count("\n") == 1


def test_lira_debug_follows_the_boolean_rule(run, tmp_path, monkeypatch):
    monkeypatch.setenv("LIRA_DEBUG", "yes")
    code, _, err = run("index", tmp_path / "nowhere")
    assert code == 1 and "Traceback" in err
    monkeypatch.setenv("LIRA_DEBUG", "0")
    code, _, err = run("index", tmp_path / "nowhere")
    assert "no such file or folder" in one_line_error(code, err)


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("how", ["..", "/abs", "a/b", "../../x", "env"])
def test_an_index_name_that_is_not_plain_is_refused(run, docs, lira_home, tmp_path, monkeypatch, how):
    outside = tmp_path / "outside-index"
    name = {"/abs": str(outside)}.get(how, how)
    if how == "env":
        monkeypatch.setenv("LIRA_INDEX_NAME", "../../x")
        flags = []
    else:
        flags = ["--name", name]
    lira_home.mkdir()
    before = _tree(tmp_path)
    for args in (["index", docs], ["search", "Москва"], ["ask", "Где Москва?", "--max-new-tokens", "2"]):
        code, out, err = run(*args, *flags)
        line = one_line_error(code, err)
        assert code == 1 and out == "" and "must be a plain name" in line, err
        assert _tree(tmp_path) == before  # nothing made, inside LIRA_HOME or outside it
    assert not outside.exists() and not (tmp_path / "x").exists()


def test_a_cyrillic_index_name_works(run, docs, lira_home, tmp_path):
    before = set(_tree(tmp_path))
    code, out, err = run("index", docs, "--name", "стихи-1", "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == 2
    code, out, err = run("search", "Москва — столица России.", "--name", "стихи-1", "-k", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["results"][0]["path"].endswith("moscow.txt")
    made = {path.split("/")[0] for path in set(_tree(tmp_path)) - before}
    assert made == {"home"} and (lira_home / "indexes" / "стихи-1" / "catalog.sqlite").is_file()
    assert {p.name for p in lira_home.iterdir()} <= {"indexes", "models"}
