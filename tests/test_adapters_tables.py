"""Instructions in the seed 001's formats: ru_instruct_gpt4 records, TSV and CSV tables, --columns."""

import json

import pytest

from adapters.data_tables import parse_columns
from adapters.errors import TrainingDataError
from adapters.rag_prompt import build_plain_prompt
from adapters.training_data import DataOptions, load_training_data
from tests.conftest import one_line_error


def load(path, columns=""):
    return load_training_data([path], DataOptions(columns=parse_columns(columns)),
                              lambda text: len(text.split()))


def pairs(data):
    return [(e.prompt, e.answer) for e in data.examples]


# The seed's TSV of lksy/ru_instruct_gpt4: a BOM, a tab and a newline inside quoted fields,
# an empty input and an empty full_output.
SEED_TSV = ('\ufeffinstruction\tinput\toutput\tfull_output\n'
            'Придумай название для книги.\tПортал в параллельный мир.\t"Портал"\t\n'
            '"Что означает слово ""землетрясение""?"\t\t"Колебания\tземли\nот толчков."\t'
            'Подробный ответ.\n')


def test_the_seeds_tsv_with_quoted_fields_and_a_bom(tmp_path):
    path = tmp_path / "ru_instruct_gpt4.tsv"
    path.write_text(SEED_TSV, encoding="utf-8")
    data = load(path)
    assert data.format == "instructions" and not data.dropped
    assert pairs(data) == [
        (build_plain_prompt("Придумай название для книги.\nПортал в параллельный мир."), "Портал"),
        (build_plain_prompt('Что означает слово "землетрясение"?'), "Колебания\tземли\nот толчков."),
    ]
    long_answers = load(path, "output=full_output")  # the seed's full_output column instead
    assert [e.answer for e in long_answers.examples] == ["Подробный ответ."]
    assert long_answers.dropped == {"bad_record": 1}  # the row whose full_output is empty


def test_a_csv_with_its_own_column_names(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text('question,answer,note\n"Столица России, кратко?",Москва,x\n'
                    'Кто написал «Онегина»?,"Пушкин, конечно",\n', encoding="utf-8-sig")
    data = load(path, "instruction=question, output=answer")
    assert pairs(data) == [(build_plain_prompt("Столица России, кратко?"), "Москва"),
                           (build_plain_prompt("Кто написал «Онегина»?"), "Пушкин, конечно")]


def test_ru_instruct_gpt4_jsonl_records_and_mapped_keys(tmp_path):
    path = tmp_path / "ru_instruct_gpt4.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"instruction": "Придумай цитату.", "input": None, "output": "Учитесь!",
         "full_output": "Учитесь, и всё будет хорошо!"},
        {"instruction": "Расскажи про медведя.", "input": "", "output": "Жил-был медведь.",
         "full_output": None}]), encoding="utf-8")
    assert [e.answer for e in load(path).examples] == ["Учитесь!", "Жил-был медведь."]
    assert [e.answer for e in load(path, "output=full_output").examples] == [
        "Учитесь, и всё будет хорошо!"]
    other = tmp_path / "qa.jsonl"
    other.write_text(json.dumps({"q": "Сколько будет 2+2?", "a": "4"}), encoding="utf-8")
    assert pairs(load(other, "instruction=q,output=a")) == [(build_plain_prompt("Сколько будет 2+2?"),
                                                              "4")]


@pytest.mark.parametrize("columns,expected", [
    ("", "has no column instruction, output; its columns are question, answer"),
    ("instruction=question", "has no column output; its columns are question, answer"),
    ("instruction=question,output=reply", "has no column reply (for output)"),
])
def test_a_missing_column_names_the_files_columns(tmp_path, columns, expected):
    path = tmp_path / "qa.tsv"
    path.write_text("question\tanswer\nВопрос?\tОтвет.\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match="--columns") as caught:
        load(path, columns)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("text,expected", [
    ("instruction", "FIELD=COLUMN pairs"), ("answer=output", "unknown field 'answer'"),
    ("output=", "FIELD=COLUMN pairs")])
def test_a_bad_mapping_is_refused(text, expected):
    with pytest.raises(TrainingDataError, match=expected):
        parse_columns(text)


def test_a_table_that_is_not_utf8_is_one_error(tmp_path):
    path = tmp_path / "cp1251.csv"
    path.write_bytes("instruction,output\nВопрос,Ответ\n".encode("cp1251"))
    with pytest.raises(TrainingDataError, match="as a UTF-8 table"):
        load(path)


def test_columns_through_the_cli(run, tiny_models, tmp_path):
    path = tmp_path / "qa.tsv"
    path.write_text("вопрос\tответ\n" + "Какая столица России?\tМосква\n" * 3, encoding="utf-8")
    base = ["--base", tiny_models["gpt2"], "--data", path, "--max-steps", "1", "--eval-fraction", "0"]
    line = one_line_error(*run("train", "lora", *base, "--out", tmp_path / "a")[::2])
    assert "its columns are вопрос, ответ" in line and "--columns" in line
    code, out, err = run("--device", "cpu", "train", "lora", *base, "--out", tmp_path / "b",
                         "--columns", "instruction=вопрос,output=ответ", "--json")
    assert code == 0, err
    manifest = json.loads(out)
    assert manifest["data"]["examples"] == 3 and manifest["data"]["format"] == "instructions"
    assert manifest["data"]["options"]["columns"] == [["instruction", "вопрос"], ["output", "ответ"]]
    assert "--columns 'instruction=вопрос,output=ответ'" in manifest["command"]
    line = one_line_error(*run("train", "lora", *base, "--out", tmp_path / "c",
                               "--columns", "question=вопрос")[::2])
    assert "unknown field 'question'" in line
