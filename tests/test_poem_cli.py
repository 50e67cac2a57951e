"""`lira poem analyze` on files, stdin and JSONL; `lira poem` end to end with tiny models."""

from __future__ import annotations

import io
import json

import pytest

from assistant.errors import GenerationError
from assistant.poetry.authors import near_matches
from assistant.poetry.choice import Candidate, best, form_score
from assistant.poetry.form import PoemForm, analyze_poem
from tests.conftest import one_line_error
from tests.poems import BLOK, BURYA, POEMS


def test_analyze_a_file(run, tmp_path, stress_model):
    poem = tmp_path / "blok.txt"
    poem.write_text(BLOK, encoding="utf-8")
    code, out, _ = run("poem", "analyze", poem)
    assert code == 0
    assert out.splitlines() == ["lines: 8", "stanzas: 2", "rhyme scheme: ABAB ABAB",
                                "metre: ямб, 4 feet"]
    code, out, _ = run("poem", "analyze", poem, "--json")
    assert json.loads(out) == {"lines": 8, "stanzas": 2, "rhyme_scheme": "ABAB ABAB",
                               "metre": "ямб", "feet": 4}


def _stdin(data: bytes) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")


def test_analyze_stdin(run, monkeypatch, stress_model):
    monkeypatch.setattr("sys.stdin", _stdin(BURYA.encode()))
    code, out, _ = run("poem", "analyze", "-", "--json")
    assert code == 0 and json.loads(out)["rhyme_scheme"] == "ABAB"
    assert json.loads(out)["metre"] == "хорей"


@pytest.mark.parametrize("data, message", [
    (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, "is not UTF-8 text (byte"),
    ("Буря мглою\x00небо кроет".encode(), "is binary (it holds NUL bytes)"),
], ids=["elf", "nul"])
def test_binary_input_is_refused_from_stdin_as_from_a_file(run, monkeypatch, tmp_path, data, message):
    path = tmp_path / "poem.txt"
    path.write_bytes(data)
    from_file = one_line_error(*run("poem", "analyze", path)[::2])
    monkeypatch.setattr("sys.stdin", _stdin(data))
    from_stdin = one_line_error(*run("poem", "analyze", "-")[::2])
    assert message in from_file and message in from_stdin
    assert from_file.replace(str(path), "stdin") == from_stdin


def test_analyze_jsonl_gives_one_result_a_line(run, tmp_path, stress_model):
    records = tmp_path / "poems.jsonl"
    records.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False)
                                 for t in (BLOK, BURYA, "  ")) + "\n\n", encoding="utf-8")
    code, out, _ = run("poem", "analyze", records)
    assert code == 0
    results = [json.loads(line) for line in out.splitlines()]
    assert [r.get("rhyme_scheme") for r in results] == ["ABAB ABAB", "ABAB", None]
    assert "empty" in results[2]["error"]


@pytest.mark.parametrize("content, message", [
    ("", "the poem is empty"),
    ("not json\n", "poems.jsonl:1 is not JSON"),
    ('{"title": "x"}\n', 'poems.jsonl:1 has no "text"'),
])
def test_analyze_errors_are_one_line(run, tmp_path, content, message):
    path = tmp_path / ("poems.jsonl" if content else "empty.txt")
    path.write_text(content, encoding="utf-8")
    assert message in one_line_error(*run("poem", "analyze", path)[::2])


def test_analyze_a_missing_file(run, tmp_path):
    assert "cannot read" in one_line_error(*run("poem", "analyze", tmp_path / "no.txt")[::2])


@pytest.fixture
def poem_env(run, monkeypatch, tiny_models, tiny_embedder_dir, tmp_path):
    """Tiny models for every profile and an index 'poems' of a small JSONL corpus."""
    monkeypatch.setenv("LIRA_POEM_MODEL", str(tiny_models["llama"]))
    monkeypatch.setenv("LIRA_CHAT_MODEL", str(tiny_models["gpt2"]))
    monkeypatch.setenv("LIRA_EMBEDDER", str(tiny_embedder_dir))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "poems.jsonl").write_text(
        "\n".join(json.dumps(p, ensure_ascii=False) for p in POEMS), encoding="utf-8")
    assert run("index", corpus, "--name", "poems", "--json")[0] == 0
    import torch

    torch.manual_seed(0)  # sampling: the same candidates on every run
    return run


def test_poem_json_picks_the_best_candidate(poem_env, stress_model):
    code, out, _ = poem_env("poem", "--name", "poems", "--author", "Лермонтов", "--title",
                            "Море", "--candidates", "2", "--max-new-tokens", "24", "--json")
    assert code == 0
    result = json.loads(out)
    assert {"poem", "author", "title", "examples", "form", "candidates", "scores"} <= set(result)
    assert result["author"] == "Лермонтов" and result["candidates"] == 2
    assert result["examples"] == [{"title": "Парус", "path": result["examples"][0]["path"]}]
    scores = [s["score"] for s in result["scores"]]
    assert len(scores) == 2 and result["scores"][result["chosen"]]["score"] == max(scores)
    assert result["form"] == {"requested": None,
                              "achieved": analyze_poem(result["poem"]).to_dict()}
    assert all(s["stopped_by"] in ("eos", "stop string", "max tokens") for s in result["scores"])


def test_a_poem_in_a_form_streams_its_lines_and_reports_the_form(poem_env, stress_model):
    code, out, err = poem_env("poem", "--name", "poems", "--author", "Лермонтов", "--title",
                              "Море", "--scheme", "AABB", "--metre", "trochee", "--feet", "4",
                              "--stanzas", "1", "--max-new-tokens", "60", "--json")
    assert code == 0, err
    result = json.loads(out)
    form = result["form"]
    assert form["requested"] == {"scheme": "AABB", "metre": "хорей", "feet": 4, "stanzas": 1}
    assert form["achieved"] == analyze_poem(result["poem"]).to_dict()
    assert form["achieved"]["stanzas"] == 1 and form["lines"] == form["achieved"]["lines"] <= 4
    assert form["scheme_kept"] == (form["achieved"]["rhyme_scheme"] == "AABB")
    assert form["source"] == "requested" and form["samples"] >= form["lines"]
    # Lermontov's one indexed poem is two lines: no quatrain to say AABB is not his.
    assert form["notes"] == [] and result["note"] is None

    code, out, err = poem_env("poem", "--name", "poems", "--author", "Лермонтов", "--title",
                              "Море", "--scheme", "ABAB", "--stanzas", "1",
                              "--max-new-tokens", "40")
    assert code == 0, err
    assert 1 <= len(out.strip().splitlines()) <= 4
    assert "lira: form: asked ABAB" in err and "rhyme as asked" in err


@pytest.mark.parametrize("args, said", [
    (["--author", "Гомер", "--name", "nothing"], "no poems by Гомер indexed"),
    (["--author", "Лермонтов", "--name", "poems", "--title", "Я"], None),
])
def test_form_fallbacks_are_stated(poem_env, stress_model, args, said):
    wanted = ["--title", "Море"] if "--title" not in args else []
    code, out, err = poem_env("poem", *args, *wanted, "--scheme", "auto", "--metre", "auto",
                              "--stanzas", "1", "--max-new-tokens", "30", "--json")
    assert code == 0, err
    form = json.loads(out)["form"]
    if said:  # no poems to take the form from: the analyser's default, said so
        assert form["source"] == "default" and said in " ".join(form["notes"])
        assert form["requested"]["scheme"] == "ABAB" and form["requested"]["metre"] == "ямб"
    else:  # a one-letter title; the author's one indexed poem has a metre, but no quatrain
        assert form["source"] == "default and the author's poems"
        assert form["notes"] == ["no clear rhyme scheme in Лермонтов's 1 indexed poems: "
                                 "rhyme scheme from the analyser's default (ABAB)"]


@pytest.mark.parametrize("args, message", [
    (["--scheme", "AB1"], "unknown rhyme scheme 'AB1'"),
    (["--metre", "gallop"], "unknown metre 'gallop'"),
])
def test_bad_forms_are_one_line_errors(poem_env, args, message):
    code, _, err = poem_env("poem", "--name", "poems", "--author", "Лермонтов", "--title",
                            "Море", *args)
    assert message in one_line_error(code, err)


def test_poem_without_an_index_says_so(poem_env, stress_model):
    code, out, err = poem_env("poem", "--name", "nothing", "--author", "Пушкин", "--title",
                              "Осень", "--candidates", "1", "--max-new-tokens", "8")
    assert code == 0 and out.strip()
    assert "no index 'nothing': writing without style examples" in err


def test_unknown_author_lists_near_matches(poem_env):
    code, _, err = poem_env("poem", "--name", "poems", "--author", "Пушкен", "--title", "Осень")
    line = one_line_error(code, err)
    assert "no author 'Пушкен' in index 'poems'" in line and "Александр Пушкин" in line
    assert "Михаил Лермонтов" not in line


def test_poem_needs_author_and_title(run):
    code, _, err = run("poem", "--author", "Пушкин")
    assert code == 2 and "give --author and --title" in err


def test_near_matches_by_any_word_of_a_name():
    known = ["Александр Пушкин", "Михаил Лермонтов", "Александр Блок"]
    assert near_matches("Пушкен", known) == ["Александр Пушкин"]
    assert near_matches("лермонтав", known) == ["Михаил Лермонтов"]
    assert near_matches("Гомер", known) == []


def form(rhymed: float, metre_cost: float | None) -> PoemForm:
    return PoemForm(lines=4, stanzas=1, rhyme_scheme="ABAB", metre="ямб" if metre_cost is not None
                    else None, feet=4, rhymed=rhymed, metre_cost=metre_cost)


def test_form_score_rewards_rhyme_and_regular_metre():
    assert form_score(form(1.0, 0.0)) == 1.0
    assert form_score(form(1.0, None)) == 0.5
    assert form_score(form(0.5, 0.0)) > form_score(form(0.5, 0.5)) > form_score(form(0.5, None))


def test_best_weighs_form_against_fluency():
    rhymed = Candidate("a", "eos", form_score=1.0, fluency=-3.0)
    fluent = Candidate("b", "eos", form_score=0.0, fluency=-1.0)
    empty = Candidate("", "eos")
    assert best([fluent, rhymed, empty]) == 1  # 1.0 - 0.6 beats 0.0 - 0.2
    assert best([Candidate("c", "eos", form_score=0.0, fluency=-9.0), fluent]) == 1
    with pytest.raises(GenerationError, match="empty poem in all 2"):
        best([empty, empty])


def test_fluency_is_the_mean_token_logprob(tiny_models):
    import torch

    from assistant.poetry.fluency import mean_logprob
    from assistant.runtime.loading import load_model

    loaded = load_model(tiny_models["llama"], "tiny")
    prompt, text = "Мороз и солнце;", " день чудесный!"
    prompt_ids = loaded.tokenizer(prompt, return_tensors="pt")["input_ids"]
    text_ids = loaded.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    ids = torch.cat([prompt_ids, text_ids], dim=1)
    labels = ids.clone()
    labels[:, :prompt_ids.shape[1]] = -100  # the loss covers the text's tokens only
    with torch.no_grad():
        loss = loaded.model(ids, labels=labels).loss
    assert mean_logprob(loaded, prompt, text) == pytest.approx(-float(loss), abs=1e-4)
    assert mean_logprob(loaded, prompt, "") is None


def test_the_root_model_flag_sets_the_poem_model_for_poem(poem_env, tiny_models):
    code, out, err = poem_env("--model", tiny_models["gpt2"], "poem", "--name", "poems", "--author",
                              "Лермонтов", "--title", "Море", "--candidates", "1", "--max-new-tokens",
                              "8", "--json")
    assert code == 0, err
    assert json.loads(out)["model"] == {"reference": str(tiny_models["gpt2"]), "adapter": None}
    code, out, err = poem_env("poem", "--name", "poems", "--author", "Лермонтов", "--title", "Море",
                              "--candidates", "1", "--max-new-tokens", "8", "--json")
    assert code == 0 and json.loads(out)["model"]["reference"] == str(tiny_models["llama"])  # LIRA_POEM_MODEL


def test_the_profile_a_command_line_generates_with():
    from assistant.cli.root import profile_of

    assert profile_of(["poem", "--author", "x"]) == profile_of(["eval", "poetry"]) == "poem"
    assert profile_of(["poem", "analyze", "-"]) == "poem"
    assert {profile_of(w) for w in (["ask", "q"], ["chat"], ["eval", "rag"], ["check"], [])} == {"chat"}


def test_a_poem_is_cleaned_of_markup_and_what_follows_it():
    from assistant.poetry.tidy import tidy_poem

    raw = ("Грозят наши мысли, и душа, которая <i>ищит</i>,\n"
           "Выскочила из потолочного лета,\n\n* * *\n"
           "До тех самых глубоких летних вечеров.\n"
           "      <u><strong>+ + + +</strong></u></strong>\n      <u> </u>\n\n"
           "____________________\n* Примечание: написано в 1830 году.")
    assert tidy_poem(raw) == ("Грозят наши мысли, и душа, которая ищит,\n"
                              "Выскочила из потолочного лета,\n\n* * *\n"
                              "До тех самых глубоких летних вечеров.")
    # «<» and «>» that are not a tag, and a stanza mark inside, stay
    assert tidy_poem("Где 2 < 3, там\n* * *\nи ночь") == "Где 2 < 3, там\n* * *\nи ночь"
    assert tidy_poem("Примечание: всё\nпотом") == ""
    # the end mark written without its «###», and the blank lines before it
    assert tidy_poem("Белеет парус одинокий\n\n\n\nв тумане моря голубом\n\n\n\nКонец\nещё") \
        == "Белеет парус одинокий\n\nв тумане моря голубом"


def test_best_prefers_a_candidate_with_verse():
    junk = Candidate("*** Конец *** 1", "eos", form_score=0.0, fluency=-0.5)
    poem = Candidate("Белеет парус одинокой\nв тумане моря голубом", "eos", form_score=0.0,
                     fluency=-3.0)
    assert best([junk, poem]) == 1
    assert best([junk, Candidate("2 3", "eos", form_score=0.0, fluency=-4.0)]) == 0


def test_a_poem_begins_after_a_date_label_or_stanza_mark():
    from assistant.poetry.tidy import tidy_poem

    raw = "20 декабря 1864\n\n[Лицо]:\n***\nТы — поэт,\nходила ли,\n[Момент]\n\nИ вот опять"
    assert tidy_poem(raw) == "Ты — поэт,\nходила ли,\n\nИ вот опять"
    assert tidy_poem("*** Конец *** 1") == "*** Конец *** 1"  # no verse: nothing to begin at


RAW_POEMS = [
    "Грозят наши мысли, и душа, которая <i>ищит</i>,\nВыскочила из потолочного лета,\n\n* * *\n"
    "До тех самых глубоких летних вечеров.\n      <u><strong>+ + + +</strong></u>\n\n"
    "____________________\n* Примечание: написано в 1830 году.",
    "20 декабря 1864\n\n[Лицо]:\n***\nТы — поэт,\nходила ли,\n[Момент]\n\nИ вот опять\n* * *\n",
    "\n\nГде 2 < 3, там\n* * *\nи ночь\n", "*** Конец *** 1", "Примечание: всё\nпотом",
    "ДЕКАБРЬ\nСтихи о том,\nкак ночь темна\r\n\r\nи день далёк",
    "Белеет парус одинокий\n\n\n\nв тумане моря\n\n\n*** Конец ***\n",
]


@pytest.mark.parametrize("raw", RAW_POEMS)
def test_a_poem_cleaned_as_it_streams_is_the_poem_cleaned_whole(raw):
    import random

    from assistant.poetry.tidy import tidy_lines, tidy_poem

    whole = tidy_poem(raw)
    assert tidy_poem(whole) == whole
    cuts = random.Random(len(raw))
    for _ in range(30):  # the pieces a stream happens to yield: any cut, mid-tag included
        points = sorted(cuts.sample(range(1, len(raw)), min(len(raw) - 1, cuts.randint(1, 12))))
        pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)])]
        assert "".join(tidy_lines(pieces)) == whole


def test_a_streamed_poem_stops_reading_at_its_footnote():
    from assistant.poetry.tidy import TidyStream

    read, closed = [], []

    class Stream:  # a generation that would run on after its footnote
        stats = type("Stats", (), {"stopped_by": "eos"})()

        def __iter__(self):
            try:
                for piece in ["Белеет парус", " одинокой\n", "в тумане\n", "***\n", "___\n"]:
                    read.append(piece)
                    yield piece
                while True:
                    read.append("ещё ")
                    yield "ещё "
            finally:
                closed.append(True)

    stream = Stream()
    assert list(TidyStream(stream)) == ["Белеет парус одинокой", "\nв тумане"]
    assert closed and read[-1] == "___\n"
    assert stream.stats.stopped_by == "stop string"


def test_a_poem_without_verse_streams_after_a_few_lines_not_at_its_end():
    from assistant.poetry.tidy import BEFORE_VERSE, tidy_lines, tidy_poem

    read = []

    def capitals():  # lines in capitals are no verse (a title), and they go on and on
        for n in range(10_000):
            read.append(n)
            yield f"ГЛАВА ПЕРВАЯ, ЧАСТЬ {n}\n"

    first = next(tidy_lines(capitals()))
    assert first.startswith("ГЛАВА ПЕРВАЯ, ЧАСТЬ 0") and len(read) == BEFORE_VERSE + 1
    # past that many lines before the first verse, nothing before it is dropped any more
    dates = "\n".join(f"{day} мая 1905" for day in range(1, BEFORE_VERSE + 2))
    assert tidy_poem(dates + "\nБелеет парус одинокий") == dates + "\nБелеет парус одинокий"
    assert tidy_poem("1 мая 1905\nБелеет парус одинокий") == "Белеет парус одинокий"
