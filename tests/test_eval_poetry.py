"""lira eval poetry: adapter against base on held-out poems, form agreement, sampling search."""

from __future__ import annotations

import json

import pytest

from assistant.evals.chrf import chrf_report
from assistant.evals.errors import EvalError
from assistant.evals.poetry_holdout import HoldoutSetting, holdout_setting
from assistant.evals.sampling_search import SPACE, search_sampling, split_dev_test
from assistant.poetry.form_agreement import PoemShape, compare_form, line_agreement, poem_shape
from assistant.runtime.presets import PRESETS
from tests.conftest import one_line_error

PNG = b"\x89PNG\r\n\x1a\n"
PUSHKIN, LERMONTOV = "Александр Пушкин", "Михаил Лермонтов"
POEMS = [
    (PUSHKIN, "Зимнее утро", "Мороз и солнце; день чудесный!\nЕщё ты дремлешь, друг прелестный"),
    (PUSHKIN, "Зимний вечер", "Буря мглою небо кроет,\nВихри снежные крутя"),
    (PUSHKIN, "Пророк", "Духовной жаждою томим,\nВ пустыне мрачной я влачился"),
    (PUSHKIN, "Туча", "Последняя туча рассеянной бури!\nОдна ты несёшься по ясной лазури"),
    (LERMONTOV, "Парус", "Белеет парус одинокий\nВ тумане моря голубом"),
    (LERMONTOV, "Тучи", "Тучки небесные, вечные странники!\nСтепью лазурною, цепью жемчужною"),
    (LERMONTOV, "Утёс", "Ночевала тучка золотая\nНа груди утёса-великана"),
    (LERMONTOV, "Листок", "Дубовый листок оторвался от ветки родимой\nИ в степь укатился"),
]
METRICS = {"n", "chrf", "chrf_mean_sentence", "self_stop_rate", "line_count_ratio",
           "distinct_1", "distinct_2", "normalisation", "scheme_exact", "line_agreement",
           "rhymed", "bleu", "rouge_1", "rouge_2", "rouge_l", "meteor"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("poems") / "poems.jsonl"
    path.write_text("\n".join(json.dumps({"author": a, "title": t, "text": x}, ensure_ascii=False)
                              for a, t, x in POEMS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def adapter(tiny_models, corpus, tmp_path_factory):
    """A LoRA on the tiny LLaMA, two steps on the corpus, two poems per author held out."""
    from adapters.methods import MethodOptions
    from adapters.training import TrainJob, TrainOptions, train
    from adapters.training_data import DataOptions

    out = tmp_path_factory.mktemp("poet") / "adapter"
    train(TrainJob(base_reference="tiny-llama", base_path=tiny_models["llama"],
                   data_paths=[corpus], out_dir=out,
                   options=TrainOptions(method="lora", max_steps=2, batch_size=2,
                                        learning_rate=0.05, warmup_steps=0, eval_fraction=0.0,
                                        logging_steps=1, device="cpu",
                                        adapter=MethodOptions(rank=4, alpha=8),
                                        data=DataOptions(holdout_per_author=2))))
    return out


@pytest.fixture
def poetry_run(run, monkeypatch, tiny_models):
    monkeypatch.setenv("LIRA_POEM_MODEL", str(tiny_models["llama"]))
    return run


# ----- the pieces ------------------------------------------------------------------------------
def test_line_agreement_compares_rhymed_or_not_line_by_line():
    assert line_agreement("ABAB", "AABB") == 1.0  # other letters, the same lines rhyme
    assert line_agreement("ABAB", "-A-A") == 0.5
    assert line_agreement("AA", "ABAB") == 0.5  # missing lines disagree
    assert line_agreement("AB-B ABAB", "-A-A ABAB") == 0.875  # stanzas follow each other
    assert line_agreement("", "") == 1.0 and line_agreement("", "AA") == 0.0
    form = compare_form(PoemShape("ABAB", 1.0), PoemShape("ABAB", 0.5))
    assert form.exact and form.line_agreement == 1.0 and form.rhymed == 1.0
    assert not compare_form(PoemShape("ABAB", 1.0), PoemShape("ABAB ABAB", 1.0)).exact
    assert poem_shape("   \n") == PoemShape("", 0.0)


def test_dev_and_test_splits_are_seeded_and_disjoint():
    dev, test = split_dev_test(range(7), seed=3)
    assert (len(dev), len(test)) == (4, 3) and sorted(dev + test) == list(range(7))
    assert split_dev_test(range(7), seed=3) == (dev, test)
    assert split_dev_test(range(7), seed=4) != (dev, test)
    with pytest.raises(EvalError, match="at least 2 held-out poems"):
        split_dev_test([1], seed=3)


def test_search_is_seeded_and_keeps_the_best():
    def score(preset):  # a stand-in for dev chrF++: prefers temperatures near 1
        return -abs(preset.temperature - 1.0)

    first = search_sampling(score, 4, seed=11, base=PRESETS["poem"])
    again = search_sampling(score, 4, seed=11, base=PRESETS["poem"])
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    assert first.best.dev_chrf == max(t.dev_chrf for t in first.trials)
    assert first.preset.temperature == first.best.params["temperature"]
    assert first.preset.stop == PRESETS["poem"].stop and first.preset.do_sample
    for trial in first.trials:
        assert set(trial.params) == set(SPACE)
        low, high = SPACE["top_p"]
        assert low <= trial.params["top_p"] <= high
        assert trial.params["no_repeat_ngram_size"] in SPACE["no_repeat_ngram_size"]


def test_holdout_setting_defaults_and_flag():
    assert holdout_setting(None, None) == HoldoutSetting(1, 600, "defaults")
    assert holdout_setting(None, 3) == HoldoutSetting(3, 600, "--holdout")


# ----- the command -----------------------------------------------------------------------------
def test_adapter_and_base_side_by_side_with_a_search(poetry_run, corpus, adapter, tmp_path):
    out = tmp_path / "report"
    code, stdout, err = poetry_run("eval", "poetry", "--corpus", corpus, "--adapter", adapter,
                                   "--search", "2", "--max-new-tokens", "12", "--out", out,
                                   "--json")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert json.loads(stdout) == {k: v for k, v in report.items() if k != "poems"}
    assert set(report) == {"command", "n", "setup", "models", "search", "poems"}
    setup = report["setup"]
    assert setup["adapter"] == str(adapter)
    assert (setup["holdout_per_author"], setup["holdout_from"]) == (2, "the adapter's manifest")
    manifest = json.loads((adapter / "lira-adapter.json").read_text(encoding="utf-8"))
    held = [(h["author"], h["title"]) for h in manifest["data"]["holdout"]]
    assert [(p["author"], p["title"]) for p in report["poems"]] == held and report["n"] == 4
    assert "CHRF(word_order=2)" in setup["chrf"] and "whitespace" in setup["chrf"]

    for label in ("adapter", "base"):
        model = report["models"][label]
        assert set(model["overall"]) == METRICS
        assert {a: s["n"] for a, s in model["per_author"].items()} == {PUSHKIN: 2, LERMONTOV: 2}
        poems = [row[label] for row in report["poems"]]
        assert model["overall"]["chrf"] == chrf_report(
            [p["poem"] for p in poems], [row["reference"] for row in report["poems"]])["corpus"]
        assert model["overall"]["scheme_exact"] == sum(p["form"]["exact"] for p in poems) / 4
        assert 0 <= model["overall"]["line_agreement"] <= 1
        assert all(p["stopped_by"] in ("eos", "stop string", "max tokens") for p in poems)
    for row in report["poems"]:
        assert row["adapter"]["form"]["reference_scheme"] == row["reference_scheme"]

    search = report["search"]
    dev = [(p["author"], p["title"]) for p in search["split"]["dev"]]
    test = [(p["author"], p["title"]) for p in search["split"]["test"]]
    assert len(dev) == len(test) == 2 and not set(dev) & set(test)
    assert sorted(dev + test) == sorted(held)
    assert [t["number"] for t in search["trials"]] == [0, 1]
    assert search["best"]["dev_chrf"] == max(t["dev_chrf"] for t in search["trials"])
    assert set(search["best"]["params"]) == set(SPACE) and search["model"] == "adapter"
    assert set(search["test"]) == {"default", "best"}
    assert search["test"]["best"]["n"] == search["test"]["default"]["n"] == 2

    for name in ("chrf_by_author.png", "rhyme_by_author.png", "search.png"):
        assert (out / name).read_bytes().startswith(PNG)
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "## Per author" in summary and "## Sampling search" in summary
    assert f"| {LERMONTOV} | adapter | 2 |" in summary


def test_one_author_without_an_adapter(poetry_run, corpus, tmp_path):
    out = tmp_path / "report"
    code, stdout, err = poetry_run("eval", "poetry", "--corpus", corpus, "--adapter", "none",
                                   "--authors", "лермонтов", "--holdout", "1", "--limit", "1",
                                   "--max-new-tokens", "8", "--out", out)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["n"] == 1 and report["poems"][0]["title"] == "Листок"
    assert report["setup"]["adapter"].startswith("none") and report["search"] is None
    assert list(report["models"]["adapter"]["per_author"]) == [LERMONTOV]
    assert report["models"]["adapter"] == report["models"]["base"]
    lines = stdout.splitlines()
    assert lines[0].startswith("1 held-out poems; adapter: none")
    assert lines[2].startswith("adapter") and lines[3].startswith("base")
    assert not (out / "search.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--corpus", "{tmp}/missing.jsonl"], "no such corpus"),
    (["--corpus", "{empty}"], "no poems in"),
    (["--corpus", "{corpus}", "--authors", "Пушкн"], "did you mean Александр Пушкин?"),
    (["--corpus", "{corpus}", "--authors", "Лермонтов,Блок"], "no held-out poems by 'Блок'"),
    (["--corpus", "{corpus}", "--holdout", "4"], "none is held out"),
    (["--corpus", "{corpus}", "--authors", "Пушкин", "--search", "2"],
     "--search needs at least 2 held-out poems"),
])
def test_bad_inputs_are_one_line_errors(poetry_run, corpus, tmp_path, args, message):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    args = [a.format(tmp=tmp_path, empty=empty, corpus=corpus) for a in args]
    code, out, err = poetry_run("eval", "poetry", "--adapter", "none", "--max-new-tokens", "4",
                                "--out", tmp_path / "out", *args)
    assert message in one_line_error(code, err) and out == ""


# ----- a poem model on a server ------------------------------------------------------------
@pytest.fixture
def remote_poems(run, monkeypatch, lira_home):
    from tests.stand_in_openai import StandIn

    with StandIn() as server:
        monkeypatch.setenv("LIRA_POEM_MODEL", "openai:m")
        monkeypatch.setenv("LIRA_POEM_BASE_URL", server.url)
        yield run, server


def test_a_remote_poem_model_is_evaluated_without_an_adapter(remote_poems, corpus, tmp_path):
    run, server = remote_poems
    out = tmp_path / "report"
    code, stdout, err = run("eval", "poetry", "--corpus", corpus, "--holdout", "1",
                            "--max-new-tokens", "16", "--out", out, "--json")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["setup"]["poem_model"] == "openai:m" and report["n"] == 2
    assert report["setup"]["adapter"].startswith("none")
    assert [row["base"]["poem"] for row in report["poems"]] == [
        "Ночь тиха, луна светла,\nтень по улице легла."] * 2  # what the server wrote
    assert len(server.bodies("/v1/completions")) == 2
    code, _, err = run("eval", "poetry", "--corpus", corpus, "--adapter", "poet",
                       "--out", out)
    assert "cannot apply to openai:m, a model on a server" in one_line_error(code, err)
