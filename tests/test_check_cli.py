"""lira check and lira eval check: JSON shapes, text marks, reports, one-line errors."""

from __future__ import annotations

import json

import pytest

from assistant.evals.check import claim_metrics
from tests.conftest import one_line_error

SOURCE = ("Санкт-Петербург был основан 27 мая 1703 года царём Петром Первым. "
          "В 1712 году столица России была перенесена из Москвы в Петербург.")
ANSWER = ("Петербург основал Пётр Первый в 1703 году [1]. "
          "Столицу перенесли в Петербург в 1715 году. "
          "Кошки спят на диване по шестнадцать часов в сутки.")


@pytest.fixture
def files(tmp_path):
    source, answer = tmp_path / "spb.txt", tmp_path / "answer.txt"
    source.write_text(SOURCE, encoding="utf-8")
    answer.write_text(ANSWER, encoding="utf-8")
    return source, answer


def test_check_json_has_exactly_the_documented_shape(files, run, tiny_embedder_dir):
    source, answer = files
    code, out, err = run("--embedder", tiny_embedder_dir, "check",
                         "--answer-file", answer, "--source-file", source, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {"score", "nothing_checked", "sentences"}
    assert report["nothing_checked"] is False
    assert [set(s) for s in report["sentences"]] == [{"text", "verdict", "score", "evidence"}] * 3
    assert [s["verdict"] for s in report["sentences"]] == \
        ["supported", "contradicted", "unsupported"]
    assert all(set(s["evidence"]) == {"source", "text"} for s in report["sentences"])
    assert report["sentences"][1]["evidence"] == {
        "source": str(source),
        "text": "В 1712 году столица России была перенесена из Москвы в Петербург."}
    assert report["sentences"][0]["text"] == "Петербург основал Пётр Первый в 1703 году."
    assert 0 < report["score"] < 1


def test_check_text_mode_marks_each_sentence(files, run):
    source, _ = files
    code, out, _ = run("check", "--answer", ANSWER, "--source-file", source,
                       "--no-embeddings")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("✓ supported") and "✗ contradicted" in lines[2]
    assert "? unsupported" in lines[4]
    assert lines[-1].startswith("score ") and "1 supported, 1 contradicted, 1 unsupported" in \
        lines[-1]


def test_check_with_question_judges_the_answer_as_its_answer(files, run):
    source, _ = files
    asked = ("--question", "В каком году столицу России перенесли в Петербург?")
    verdicts = {}
    for answer in ("1712 [1]", "1703 [1]"):  # 1703 is in the source, but as the founding year
        code, out, err = run("check", "--answer", answer, "--source-file", source,
                             "--no-embeddings", "--no-confidence", "--json", *asked)
        assert code == 0, err
        report = json.loads(out)
        (sentence,) = report["sentences"]
        assert sentence["text"] == f"В {answer[:4]} году столицу России перенесли в Петербург."
        assert sentence["evidence"]["text"].startswith("В 1712 году столица")
        verdicts[answer] = (sentence["verdict"], report["score"])
    assert verdicts["1712 [1]"][0] == "supported" and verdicts["1703 [1]"][0] != "supported"
    assert verdicts["1712 [1]"][1] > verdicts["1703 [1]"][1]
    # without the question "1703" is a bare figure the source states: supported
    code, out, _ = run("check", "--answer", "1703 [1]", "--source-file", source,
                       "--no-embeddings", "--json")
    assert json.loads(out)["sentences"][0]["verdict"] == "supported"


@pytest.mark.parametrize("args,message", [
    (["--answer", "Текст.", "--source-file", "{source}", "--question", "  "],
     "the question is empty"),
    (["--answer", "Текст.", "--source-file", "{tmp}/missing.txt"], "no such source file"),
    (["--answer-file", "{tmp}/missing.txt", "--source-file", "{source}"],
     "no such answer file"),
    (["--answer-file", "{tmp}", "--source-file", "{source}"], "cannot read answer file"),
    (["--answer", "   ", "--source-file", "{source}"], "the answer is empty"),
    (["--answer", "Текст.", "--source-file", "{binary}"], "is not text"),
])
def test_check_bad_inputs_are_one_line_errors(files, run, tmp_path, args, message):
    source, _ = files
    binary = tmp_path / "image.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    args = [a.format(tmp=tmp_path, source=source, binary=binary) for a in args]
    code, out, err = run("check", "--no-embeddings", *args)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert message in one_line_error(code, err)


def test_check_needs_one_answer_and_a_source(files, run):
    source, answer = files
    assert run("check", "--source-file", source)[0] == 2
    assert run("check", "--answer", "a", "--answer-file", answer,
               "--source-file", source)[0] == 2
    code, _, err = run("check", "--answer", "a")
    assert code == 2 and "--source-file" in err


CLAIMS = [
    {"claim": "Петербург основал Пётр Первый в 1703 году.", "sources": [SOURCE],
     "label": "supported"},
    {"claim": "В 1712 году столицу перенесли из Москвы в Петербург.", "sources": [SOURCE],
     "label": "supported"},
    {"claim": "Столицу перенесли из Москвы в Петербург в 1715 году.", "sources": [SOURCE],
     "label": "contradicted"},
    {"claim": "Петербург основал Иван Грозный в 1703 году.", "sources": [SOURCE],
     "label": "contradicted"},
    {"claim": "Кошки спят на диване по шестнадцать часов.", "sources": [SOURCE],
     "label": "unsupported"},
    # the checker gets this one wrong on purpose: nothing here says it is unsupported
    {"claim": "Санкт-Петербург был основан царём.", "sources": [SOURCE],
     "label": "unsupported"},
]


def write_claims(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_eval_check_reports_auc_accuracy_and_confusion(tmp_path, run):
    claims = write_claims(tmp_path / "claims.jsonl", CLAIMS)
    out_dir = tmp_path / "report"
    code, out, err = run("eval", "check", "--claims", claims, "--no-embeddings", "--nli", "none",
                         "--out", out_dir)
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"n", "roc_auc", "accuracy", "confusion"}
    assert result["n"] == 6
    assert sum(sum(row.values()) for row in result["confusion"].values()) == 6
    assert result["confusion"]["unsupported"]["supported"] == 1
    assert result["accuracy"] == pytest.approx(5 / 6, abs=1e-4)
    # the one unsupported claim scored as supported ranks above both supported ones at best
    assert 0.5 <= result["roc_auc"] < 1.0
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    assert report["n"] == 6 and len(report["claims"]) == 6
    assert report["per_class"]["contradicted"] == 1.0
    assert "| contradicted | 0 | 2 | 0 | 1.000 |" in (out_dir / "summary.md").read_text()
    assert (out_dir / "scores.png").read_bytes().startswith(b"\x89PNG")


def test_claim_metrics_by_hand():
    metrics = claim_metrics(["supported", "unsupported", "contradicted", "supported"],
                            ["supported", "supported", "contradicted", "unsupported"],
                            [0.9, 0.8, 0.1, 0.3])
    assert metrics["n"] == 4 and metrics["accuracy"] == 0.5
    assert metrics["roc_auc"] == 0.75  # of the pairs (0.9|0.3 vs 0.8|0.1) 3 of 4 rank right
    assert metrics["confusion"]["supported"] == \
        {"supported": 1, "contradicted": 0, "unsupported": 1}
    assert metrics["per_class"] == {"supported": 0.5, "contradicted": 1.0, "unsupported": 0.0}
    assert claim_metrics(["supported"], ["supported"], [1.0])["roc_auc"] is None


@pytest.mark.parametrize("line,message", [
    ("not json", "claims.jsonl:2 is not JSON"),
    ('{"claim": "x", "sources": "text", "label": "supported"}', "claims.jsonl:2: need"),
    ('{"claim": "x", "sources": ["t"], "label": "true"}', "label must be one of"),
])
def test_eval_check_bad_claims_name_the_line(tmp_path, run, line, message):
    claims = tmp_path / "claims.jsonl"
    claims.write_text(json.dumps(CLAIMS[0], ensure_ascii=False) + "\n" + line + "\n",
                      encoding="utf-8")
    code, out, err = run("eval", "check", "--claims", claims, "--no-embeddings")
    assert out == "" and err.count("\n") == 1
    assert message in one_line_error(code, err)


def test_eval_check_empty_or_missing_file(tmp_path, run):
    empty = tmp_path / "claims.jsonl"
    empty.write_text("\n", encoding="utf-8")
    code, _, err = run("eval", "check", "--claims", empty)
    assert "holds no claims" in one_line_error(code, err)
    code, _, err = run("eval", "check", "--claims", tmp_path / "none.jsonl")
    assert "no such claims file" in one_line_error(code, err)


def test_nli_reference_names_settings_and_adapter_folders(tmp_path):
    from adapters.registry import BUNDLED_DIR
    from assistant.grounding.entailment import nli_reference
    from assistant.settings import Settings

    settings = Settings(home=tmp_path)
    assert nli_reference(settings) == str(BUNDLED_DIR / "nli")  # auto: the bundled adapter
    assert nli_reference(settings, "none") is None
    assert nli_reference(settings, "nli") == str(BUNDLED_DIR / "nli")
    mine = tmp_path / "adapters" / "nli"  # an installed adapter of that name comes first
    mine.mkdir(parents=True)
    (mine / "lira-adapter.json").write_text("{}", encoding="utf-8")
    assert nli_reference(settings, "nli") == str(mine)
    assert nli_reference(settings, "cointegrated/rubert-nli") == "cointegrated/rubert-nli"
    settings.nli = "none"
    assert nli_reference(settings) is None and nli_reference(settings, "auto") is not None


def test_an_answer_with_nothing_to_check_says_so_and_is_not_green(files, run):
    from assistant.chat.backend import grounding_badge
    from assistant.cli.answer_output import check_line
    from assistant.grounding import check_answer

    source, _ = files
    code, out, _ = run("check", "--answer", "Да [1].", "--source-file", source,
                       "--no-embeddings")
    assert code == 0 and out.splitlines()[-1].startswith("nothing to check")
    assert "score 1.00" not in out
    code, out, _ = run("check", "--answer", "Да [1].", "--source-file", source,
                       "--no-embeddings", "--json")
    assert code == 0 and json.loads(out)["nothing_checked"] is True
    report = check_answer("Да [1].", [SOURCE])
    assert report.nothing_checked and not check_answer("Пётр Первый [1].", [SOURCE]).nothing_checked
    badge = grounding_badge(report)
    assert badge.label == "нечего проверять" and badge.score is None and badge.checked
    assert "нечего проверять" in check_line(report)
