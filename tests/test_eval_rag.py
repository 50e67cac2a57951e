"""lira eval rag: retrieval figures, answers and grounding on a tiny SQuAD file, tiny models."""

from __future__ import annotations

import json

import pytest

from assistant.evals.retrieval_metrics import (
    gold_rank,
    mean_reciprocal_rank,
    ranked_documents,
    recall_at,
    recall_curve,
)
from tests.conftest import one_line_error

PNG = b"\x89PNG\r\n\x1a\n"
# Two articles of two paragraphs; the first paragraph is long enough to be cut into
# several chunks at the chunk size the tests set.
SQUAD = {"version": "1.1", "data": [
    {"title": "Санкт-Петербург", "paragraphs": [
        {"context": "Санкт-Петербург основан 27 мая 1703 года Петром Первым. В 1712 году "
                    "столица России была перенесена из Москвы в Петербург. Город стоит на "
                    "Неве, и его называют северной столицей.",
         "qas": [{"id": "1", "question": "Кто основал Санкт-Петербург?",
                  "answers": [{"text": "Петром Первым", "answer_start": 40}]},
                 {"id": "2", "question": "Когда столицу перенесли в Петербург?",
                  "answers": [{"text": "В 1712 году", "answer_start": 57}]}]},
        {"context": "Эрмитаж — один из крупнейших музеев мира.",
         "qas": [{"id": "3", "question": "Что такое Эрмитаж?",
                  "answers": [{"text": "один из крупнейших музеев мира", "answer_start": 10}]}]},
    ]},
    {"title": "Кошки", "paragraphs": [
        {"context": "Кошка спит на диване по шестнадцать часов в сутки.",
         "qas": [{"id": "4", "question": "Сколько спит кошка?",
                  "answers": [{"text": "шестнадцать часов", "answer_start": 24}]},
                 {"id": "5", "question": "   ", "answers": [{"text": "пусто"}]}]},
        {"context": "Собака гуляет во дворе, а кошка смотрит в окно.",
         "qas": [{"id": "6", "question": "Где гуляет собака?",
                  "answers": [{"text": "во дворе", "answer_start": 14}]}]},
    ]},
]}


@pytest.fixture
def rag_run(run, monkeypatch, tiny_models, tiny_embedder_dir, tmp_path):
    """`lira` with the tiny chat model and embedder, small chunks, no NLI model."""
    monkeypatch.setenv("LIRA_CHAT_MODEL", str(tiny_models["gpt2"]))
    monkeypatch.setenv("LIRA_EMBEDDER", str(tiny_embedder_dir))
    monkeypatch.setenv("LIRA_NLI", "none")
    monkeypatch.setenv("LIRA_CHUNK_TOKENS", "12")
    monkeypatch.setenv("LIRA_CHUNK_OVERLAP", "2")
    return run


@pytest.fixture
def squad_file(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD, ensure_ascii=False), encoding="utf-8")
    return path


def test_retrieval_metrics_collapse_chunks_to_documents():
    ranked = ranked_documents(["b", "b", "a", "c", "a", "d"], 3)
    assert ranked == ["b", "a", "c"]
    assert gold_rank(ranked, "a") == 2 and gold_rank(ranked, "d") is None
    ranks = [1, 2, None, 3]
    assert recall_at(ranks, 1) == 0.25 and recall_at(ranks, 3) == 0.75
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 2 + 1 / 3) / 4)
    assert recall_curve(ranks, 3) == {1: 0.25, 2: 0.5, 3: 0.75}


def test_rag_report_figures_records_and_files(rag_run, squad_file, tmp_path, lira_home,
                                              monkeypatch):
    monkeypatch.setattr("assistant.evals.rag.QUERY_BATCH", 2)  # three batches of queries
    out = tmp_path / "report"
    code, stdout, err = rag_run("eval", "rag", "--qa", squad_file, "-k", "3",
                                "--max-new-tokens", "6", "--out", out, "--json")
    assert code == 0, err
    printed = json.loads(stdout)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert printed == {k: v for k, v in report.items() if k != "questions"}
    assert set(report) == {"command", "n", "setup", "retrieval", "answers", "grounding",
                           "questions"}
    setup = report["setup"]
    assert setup["paragraphs"] == 4 and setup["questions_skipped"] == 1
    assert setup["chunks"] > setup["paragraphs"]  # the long paragraph was cut up
    assert "CHRF(word_order=2)" in setup["answer_scoring"]
    assert report["n"] == len(report["questions"]) == 5

    retrieval = report["retrieval"]
    curve = retrieval["recall_curve"]
    assert len(curve) == 3 and all(0 <= r <= 1 for r in curve)
    assert curve == sorted(curve) and curve[0] == retrieval["recall@1"]
    assert "recall@5" not in retrieval  # deeper than -k 3
    ranks = [q["rank"] for q in report["questions"]]
    assert retrieval["mrr"] == pytest.approx(sum(1 / r for r in ranks if r) / 5, abs=1e-4)
    assert curve[1] == pytest.approx(sum(1 for r in ranks if r and r <= 2) / 5, abs=1e-4)
    evidence = []
    for question in report["questions"]:
        assert len(question["retrieved"]) == len(set(question["retrieved"])) <= 3
        expected = (question["retrieved"].index(question["gold"]) + 1
                    if question["gold"] in question["retrieved"] else None)
        assert question["rank"] == expected
        assert set(question["grounding"]) == {"score", "claims", "counts", "sentences"}
        assert 0 <= question["grounding"]["score"] <= 1
        for sentence in question["grounding"]["sentences"]:  # named by paragraph id
            evidence.append(sentence["evidence"]["source"] in question["passages"])
        assert question["exact_match"] in (0.0, 1.0) and 0 <= question["f1"] <= 1
        if question["gold_passage"] is not None:
            assert question["passages"][question["gold_passage"] - 1] == question["gold"]
    assert evidence and all(evidence)
    assert [(q["gold"], q["question"]) for q in report["questions"]] == [
        ("a000-p000", "Кто основал Санкт-Петербург?"),
        ("a000-p000", "Когда столицу перенесли в Петербург?"),
        ("a000-p001", "Что такое Эрмитаж?"), ("a001-p000", "Сколько спит кошка?"),
        ("a001-p001", "Где гуляет собака?")]
    assert report["questions"][0]["answers"] == ["Петром Первым"]

    answers, grounding = report["answers"], report["grounding"]
    assert answers["n"] == 5 and 0 <= answers["exact_match"] <= 100 and 0 <= answers["chrf"] <= 100
    assert grounding["answers"] == 5
    assert grounding["claims"] == sum(q["grounding"]["claims"] for q in report["questions"])
    assert set(grounding["verdicts"]) == {"supported", "contradicted", "unsupported"}
    badge = grounding["badge"]
    right = sum(q["f1"] >= 0.5 for q in report["questions"])
    assert (badge["right"], badge["wrong"]) == (right, 5 - right)
    # an answer with nothing checked is not green, as its badge in the chat is not
    green = [q["grounding"]["claims"] > 0 and q["grounding"]["score"] >= badge["green_at"]
             for q in report["questions"]]
    wrong_green = sum(g for g, q in zip(green, report["questions"]) if q["f1"] < 0.5)
    assert badge["wrong_green"] == (round(wrong_green / (5 - right), 4) if right < 5 else None)

    for name in ("recall_at_k.png", "grounding_scores.png"):
        assert (out / name).read_bytes().startswith(PNG)
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "recall@1" in summary and "![recall@k](recall_at_k.png)" in summary
    assert "## Grounding" in summary and "- badge: ROC-AUC" in summary
    # The throwaway index is gone, and the user's LIRA_HOME never got one.
    assert sorted(p.name for p in out.iterdir()) == [
        "grounding_scores.png", "recall_at_k.png", "report.json", "summary.md"]
    assert not (lira_home / "indexes").exists()


def test_rag_retrieval_only_with_distractors(rag_run, squad_file, tmp_path):
    distractors = tmp_path / "other"
    distractors.mkdir()
    (distractors / "cats.txt").write_text("Кошки и собаки живут во дворе и спят на диване.",
                                          encoding="utf-8")
    out = tmp_path / "report"
    code, stdout, err = rag_run("eval", "rag", "--qa", squad_file, "--distractors", distractors,
                                "--no-answers", "--limit", "2", "--out", out)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["n"] == 2 and report["answers"] is None and report["grounding"] is None
    assert report["setup"]["distractors"] == [str(distractors)]
    assert "answer" not in report["questions"][0]
    retrieved = {d for q in report["questions"] for d in q["retrieved"]}
    assert len(retrieved) == 5  # four paragraphs and the distractor, each once
    assert str((distractors / "cats.txt").resolve()) in retrieved
    assert len(report["retrieval"]["recall_curve"]) == 10
    assert not (out / "grounding_scores.png").exists()
    lines = stdout.splitlines()
    assert lines[0] == f"questions 2, paragraphs 4, chunks {report['setup']['chunks']}"
    assert lines[1].startswith("retrieval  R@1 ") and "MRR@10" in lines[1]


@pytest.mark.parametrize("content, message", [
    (None, "no such SQuAD file"),
    ("not json", "is not JSON"),
    ('{"data": [{"title": "x"}]}', "is not in SQuAD format"),
    ('[1, 2]', "is not in SQuAD format"),
    ('{"data": [{"paragraphs": [{"context": "Текст.", "qas": []}]}]}',
     "has no question with an answer"),
])
def test_rag_bad_inputs_are_one_line_errors(run, tmp_path, content, message):
    path = tmp_path / "qa.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = run("eval", "rag", "--qa", path, "--out", tmp_path / "out")
    assert message in one_line_error(code, err) and out == ""


def test_rag_missing_distractor_folder(run, squad_file, tmp_path):
    code, _, err = run("eval", "rag", "--qa", squad_file, "--distractors", tmp_path / "nope",
                       "--out", tmp_path / "out")
    assert "no such distractor folder" in one_line_error(code, err)


def test_an_answer_with_nothing_checked_is_not_a_green_badge():
    from assistant.evals.rag import badge_score

    assert badge_score({"score": 1.0, "claims": 0}) == 0.0
    assert badge_score({"score": 0.9, "claims": 1}) == 0.9

