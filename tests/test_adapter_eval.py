"""Adapter quality: answer and poem metrics, the held-out sets, and scored runs on a tiny model."""

import json

import pytest

from adapters.data_poems import holdout_poems, poem_examples
from adapters.data_squad import holdout_questions, squad_examples
from adapters.poem_template import build_poem_prompt
from assistant.evals.adapter_eval import answer_questions, score_answers, write_poems
from assistant.evals.answer_metrics import cited_numbers, exact_match, normalise_answer, token_f1
from assistant.evals.poem_metrics import distinct_n, line_count_ratio, self_stop_rate
from assistant.grounding.answer_overlap import first_line


# ----- answer metrics ------------------------------------------------------------------------
def test_normalisation_folds_case_yo_punctuation_and_citations():
    assert normalise_answer("  Пётр  Первый, [2]!") == "петр первый"
    assert exact_match("«Пётр Первый» [1]", ["петр первый"]) == 1.0
    assert exact_match("Пётр", ["Пётр Первый"]) == 0.0


def test_token_f1_takes_the_best_gold_and_counts_repeats_once_each():
    assert token_f1("Пётр Первый", ["Пётр", "царь Пётр Первый"]) == pytest.approx(0.8)
    assert token_f1("да да да", ["да"]) == pytest.approx(0.5)
    assert token_f1("", ["Москва"]) == 0.0 and token_f1("Москва", ["Москва"]) == 1.0


def test_cited_numbers_in_order_without_repeats():
    assert cited_numbers("Москва [2], а также [1] и снова [2]") == [2, 1]
    assert cited_numbers("без ссылок") == []


def test_score_answers_averages_as_percentages():
    records = [{"prediction": "Москва [2]", "answers": ["Москва"], "gold_passage": 2,
                "cited": [2], "exact_match": 1.0, "f1": 1.0},
               {"prediction": "город Казань", "answers": ["Казань"], "gold_passage": 1,
                "cited": [], "exact_match": 0.0, "f1": 2 / 3}]
    scores = score_answers(records)
    assert (scores["n"], scores["exact_match"], scores["f1"]) == (2, 50.0, 83.33)
    assert scores["cites_gold_passage"] == 0.5 and scores["cites_anything"] == 0.5
    assert 0 < scores["chrf"] < 100


# ----- poem metrics --------------------------------------------------------------------------
def test_poem_metrics():
    assert line_count_ratio("а\n\nб\nв\n", "раз\nдва") == 1.5
    assert distinct_n(["а б а б"], 1) == 0.5 and distinct_n(["а б а б"], 2) == pytest.approx(2 / 3)
    assert distinct_n([""], 2) == 0.0
    assert self_stop_rate(["eos", "stop string", "max tokens", "cancelled"]) == 0.5
    assert first_line("\n  Москва [1]\nВопрос: ещё") == "Москва [1]"


# ----- held-out sets -------------------------------------------------------------------------
def squad_document():
    return {"data": [{"title": f"Статья_{n}", "paragraphs": [
        {"context": f"Абзац {n}.{k}: в {1800 + k} году.", "qas": [
            {"id": f"{n}.{k}", "question": f"Когда {n}.{k}?",
             "answers": [{"text": f"{1800 + k}"}]}]} for k in range(3)]} for n in range(4)]}


def test_holdout_questions_are_exactly_the_articles_training_left_out():
    document = squad_document()
    trained = {e.group for e in squad_examples(document, 7, holdout_articles=2).examples}
    items = holdout_questions(document, 7, holdout_articles=2)
    assert {i.article for i in items} == {"Статья 2", "Статья 3"} and not trained & {
        i.article for i in items}
    for item in items:
        number = item.cited
        passage = item.prompt.split(f"[{number}] ")[1].split(">>>")[0]
        assert item.answers[0] in passage and item.question in item.prompt
    assert holdout_questions(document, 7, 2) == items  # seeded: the same prompts every time


def test_holdout_poems_match_the_training_holdout(tmp_path):
    records = [{"author": a, "title": f"Стих {a} {n}", "text": f"строка {n}\nещё строка"}
               for a in ("Пушкин", "Блок") for n in range(3)]
    path = tmp_path / "poems.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), "utf-8")
    count = lambda text: len(text.split())  # noqa: E731
    held = holdout_poems(path, count, 600, 1)
    recorded = poem_examples(path, count, 600, 1).holdout
    assert [(p.author, p.title) for p in held] == [(h["author"], h["title"]) for h in recorded]
    assert [p.title for p in held] == ["Стих Пушкин 2", "Стих Блок 2"]
    assert held[0].text == "строка 2\nещё строка"


# ----- scored runs on a tiny model -----------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_generator(tiny_models):
    from assistant.runtime.generation import Generator
    from assistant.runtime.loading import load_model

    return Generator(load_model(tiny_models["llama"], "tiny-llama", "cpu"))


def test_answer_questions_scores_every_held_out_question(tiny_generator):
    items = holdout_questions(squad_document(), 7, holdout_articles=1)
    ticks = []
    run = answer_questions(tiny_generator, items, tick=lambda: ticks.append(1))
    assert len(run.records) == len(items) == len(ticks) == 3
    record = run.records[0]
    assert record["answers"] == ["1800"] and record["gold_passage"] == items[0].cited
    assert "\n" not in record["prediction"]
    assert run.scores["n"] == 3 and 0 <= run.scores["f1"] <= 100


def test_write_poems_is_reproducible_and_reports_stopping(tiny_generator):
    from adapters.data_poems import Poem
    from assistant.runtime.presets import PRESETS

    poems = [Poem("Пушкин", "Осень", "Октябрь уж наступил\nУж роща отряхает", "p", 0),
             Poem("Блок", "Ночь", "Ночь, улица, фонарь, аптека", "b", 0)]
    preset = PRESETS["poem"].with_overrides(max_new_tokens=12)

    def prompt(poem):
        return build_poem_prompt(poem.author, poem.title)

    first = write_poems(tiny_generator, poems, prompt, preset, seed=3)
    again = write_poems(tiny_generator, poems, prompt, preset, seed=3)
    assert [r["poem"] for r in first.records] == [r["poem"] for r in again.records]
    assert all(r["stopped_by"] in ("eos", "stop string", "max tokens") for r in first.records)
    stops = sum(r["stopped_by"] != "max tokens" for r in first.records)
    assert first.scores["self_stop_rate"] == stops / 2
    assert first.scores["n"] == 2 and "whitespace" in first.scores["normalisation"]
