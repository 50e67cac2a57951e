"""lira eval chrf: chrF++ with the same normalisation on both sides."""

import json

import pytest

from assistant.cli import main
from assistant.errors import SettingsError
from assistant.evals.chrf import chrf_report, normalise


def test_identical_text_scores_100_and_formatting_does_not_count():
    poem = "Мороз и солнце; день чудесный!\n\nЕщё ты дремлешь, друг прелестный"
    messy = "  Мороз и  солнце; день чудесный!\n\n\n\tЕщё ты дремлешь, друг прелестный  "
    assert normalise(messy) == normalise(poem)
    assert chrf_report([messy], [poem])["corpus"] == 100.0


def test_scores_fall_with_differences_and_case_counts():
    ref = ["Белеет парус одинокий в тумане моря голубом"]
    close = chrf_report(["Белеет парус одинокий в тумане моря"], ref)["corpus"]
    far = chrf_report(["Ночь, улица, фонарь, аптека"], ref)["corpus"]
    upper = chrf_report([ref[0].upper()], ref)["corpus"]
    assert 100 > close > upper and close > far


def test_mismatched_counts_are_refused():
    with pytest.raises(SettingsError, match="1 hypotheses but 2 references"):
        chrf_report(["a"], ["a", "b"])


def test_cli_json_and_errors(tmp_path, capsys, lira_home):
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("кот спит\nсобака лает\n", encoding="utf-8")
    ref.write_text("кот спит\nсобака гуляет\n", encoding="utf-8")
    assert main(["eval", "chrf", "--hyp", str(hyp), "--ref", str(ref), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 2 and report["sentences"][0] == 100.0
    assert report["sentences"][1] < 100 and 0 < report["corpus"] < 100
    assert main(["eval", "chrf", "--hyp", str(tmp_path / "none.txt"), "--ref", str(ref)]) == 1
    assert "no such file" in capsys.readouterr().err
