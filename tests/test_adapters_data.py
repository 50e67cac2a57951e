"""Training data: every format Lira trains on, its filters and hold-outs, and tokenisation masks."""

import json
from pathlib import Path

import pytest

from adapters.errors import TrainingDataError
from adapters.examples import IGNORE, Collator, Example, encode_all, encode_example
from adapters.poem_template import END_OF_POEM, build_poem_prompt
from adapters.rag_prompt import build_plain_prompt
from adapters.training_data import DataOptions, data_sha256, load_training_data
from tests.conftest import shared_data


def words(text):  # a stand-in token count: words, so the poem length limit is easy to hit
    return len(text.split())


def load(path, **options):
    return load_training_data([path], DataOptions(**options), words)


def write_jsonl(path, records):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n",
                    encoding="utf-8")
    return path


# ----- instructions --------------------------------------------------------------------------
def test_instruction_records_with_null_empty_and_real_input(tmp_path):
    path = write_jsonl(tmp_path / "ru_instruct.jsonl", [
        {"instruction": "Назови столицу России.", "input": None, "output": "Москва.",
         "full_output": None},
        {"instruction": "Переведи на английский.", "input": "кошка", "output": "cat"},
        {"instruction": "Скажи привет.", "input": "", "output": "Привет!"},
        {"instruction": "Пустой ответ.", "input": "", "output": ""},
    ])
    data = load(path)
    assert data.format == "instructions" and data.dropped == {"bad_record": 1}
    assert [(e.prompt, e.answer) for e in data.examples] == [
        (build_plain_prompt("Назови столицу России."), "Москва."),
        (build_plain_prompt("Переведи на английский.\nкошка"), "cat"),
        (build_plain_prompt("Скажи привет."), "Привет!"),
    ]


def test_alpaca_json_array(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([{"instruction": "Сложи 2 и 2.", "input": "", "output": "4"}]),
                    encoding="utf-8")
    [example] = load(path).examples
    assert example.prompt == "Вопрос: Сложи 2 и 2.\nОтвет:" and example.answer == "4"


def rulm_seed_tasks(path):
    """rulm's ru_alpaca_seed_tasks.jsonl in small: Russian instruction and instances, with the
    English originals beside them (orig_*), which are not to be trained on."""
    return write_jsonl(path, [
        {"id": "seed_task_0", "name": "breakfast", "instruction": "Что съесть на завтрак?",
         "orig_instruction": "What to eat for breakfast?", "is_classification": False,
         "instances": [{"input": "", "output": "Овсянку с бананом."}],
         "orig_instances": [{"input": "", "output": "Oatmeal with a banana."}]},
        {"id": "seed_task_1", "name": "interview", "instruction": "Как ответить на вопрос?",
         "orig_instruction": "How to answer the question?", "is_classification": False,
         "instances": [{"input": "О чём вы думаете в машине?", "output": "О прошедшем дне."},
                       {"input": "Почему вы ушли?", "output": "Чтобы расти."}],
         "orig_instances": [{"input": "What do you think about in a car?", "output": "The day."},
                            {"input": "Why did you leave?", "output": "To grow."}]},
        {"id": "seed_task_2", "name": "sentiment", "instruction": "Определи тональность.",
         "orig_instruction": "Classify the sentiment.", "is_classification": True,
         "instances": [{"input": "Отличный фильм!", "output": "Положительная"}],
         "orig_instances": [{"input": "Great film!", "output": "Positive"}]},
    ])


def test_rulm_seed_tasks_give_one_example_per_instance(tmp_path):
    data = load(rulm_seed_tasks(tmp_path / "ru_alpaca_seed_tasks.jsonl"))
    assert data.format == "instructions" and not data.dropped
    assert [(e.prompt, e.answer) for e in data.examples] == [
        (build_plain_prompt("Что съесть на завтрак?"), "Овсянку с бананом."),
        (build_plain_prompt("Как ответить на вопрос?\nО чём вы думаете в машине?"), "О прошедшем дне."),
        (build_plain_prompt("Как ответить на вопрос?\nПочему вы ушли?"), "Чтобы расти."),
        (build_plain_prompt("Определи тональность.\nОтличный фильм!"), "Положительная"),
    ]


def test_the_real_rulm_seed_tasks():
    path = shared_data("rulm/ru_alpaca_seed_tasks.jsonl")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    data = load(path)
    assert data.format == "instructions" and not data.dropped
    assert len(data.examples) == sum(len(r["instances"]) for r in records) == 137
    first = records[0]
    assert data.examples[0].answer == first["instances"][0]["output"]
    assert data.examples[0].prompt.startswith("Вопрос: " + first["instruction"])


def test_seed_task_instance_input_goes_under_the_instruction(tmp_path):
    path = write_jsonl(tmp_path / "seed.jsonl", [{"instruction": "Исправь ошибку.", "instances": [
        {"input": "Мама мыла рамму.", "output": "Мама мыла раму."},
        {"input": "", "output": "Нет текста."}]}])
    prompts = [e.prompt for e in load(path).examples]
    assert prompts == [build_plain_prompt("Исправь ошибку.\nМама мыла рамму."),
                       build_plain_prompt("Исправь ошибку.")]


# ----- SQuAD ---------------------------------------------------------------------------------
def tiny_squad(path):
    """A SQuAD file in small: three articles of five paragraphs, two questions each."""
    articles = [{"title": f"Статья_{a}", "paragraphs": [
        {"context": f"Абзац {p} статьи {a}: здесь даны ответы {a}{p}0 и {a}{p}1.", "qas": [
            {"id": f"{a}{p}{q}", "question": f"Что сказано в абзаце {p} статьи {a}, вопрос {q}?",
             "answers": [{"text": f"ответ {a}{p}{q}", "answer_start": 0}]} for q in range(2)]}
        for p in range(5)]} for a in range(3)]
    path.write_text(json.dumps({"version": "1.1", "data": articles}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def check_grounded_answers(path, examples):
    """Each example cites the gold passage of its question, among one to three distractors
    of the same article, all different; returns how many passages each prompt holds."""
    squad = json.loads(path.read_text(encoding="utf-8"))
    contexts = {p["context"].strip(): n for n, a in enumerate(squad["data"]) for p in a["paragraphs"]}
    gold = {(qa["question"].strip(), qa["answers"][0]["text"].strip()): p["context"]
            for a in squad["data"] for p in a["paragraphs"] for qa in p["qas"]}
    counts = set()
    for example in examples:
        question = example.prompt.split("\nВопрос: ", 1)[1].split("\n", 1)[0]
        answer, cited = example.answer.rsplit(" [", 1)
        passages = example.prompt.split("<<<\n")[1:]
        texts = [p.split("\n>>>", 1)[0] for p in passages]
        counts.add(len(texts))
        assert texts[int(cited.rstrip("]")) - 1] == gold[(question, answer)].strip()
        assert len({contexts[t] for t in texts}) == 1  # distractors come from the same article
        assert len(set(texts)) == len(texts)
    return counts


def test_squad_becomes_grounded_answers_citing_the_gold_passage(tmp_path):
    path = tiny_squad(tmp_path / "squad.json")
    data = load(path, format="squad", seed=7)
    assert data.format == "squad" and len(data.examples) == 30
    assert {e.group for e in data.examples} == {"Статья 0", "Статья 1", "Статья 2"}
    # the gold passage and one to three distractors
    assert check_grounded_answers(path, data.examples) == {2, 3, 4}


def test_xquad_becomes_grounded_answers_citing_the_gold_passage():
    path = shared_data("xquad-ru/xquad.ru.dev36.json")
    data = load(path, format="squad", seed=7)
    assert data.format == "squad" and len(data.examples) == 854
    assert check_grounded_answers(path, data.examples[:200]) == {2, 3, 4}


def test_squad_holdout_keeps_the_last_articles_out(tmp_path):
    articles = [{"title": f"A{n}", "paragraphs": [
        {"context": f"Абзац {n}.{k} про предмет.", "qas": [
            {"id": f"{n}{k}", "question": f"Вопрос {n}.{k}?", "answers": [
                {"text": "предмет", "answer_start": 0}]}]} for k in range(2)]} for n in range(3)]
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"version": "1.1", "data": articles}, ensure_ascii=False))
    data = load(path, holdout_articles=1)
    assert data.holdout == [{"article": 2, "title": "A2", "questions": 2}]
    assert len(data.examples) == 4 and all(e.group in ("A0", "A1") for e in data.examples)
    assert all(e.answer in ("предмет [1]", "предмет [2]") for e in data.examples)
    with pytest.raises(TrainingDataError, match="holdout-articles"):
        load(path, holdout_articles=3)


def test_several_files_are_read_in_order_into_one_set(tmp_path):
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"data": [{"title": "A", "paragraphs": [
        {"context": "Москва — столица России.", "qas": [
            {"id": "1", "question": "Какая столица?", "answers": [{"text": "Москва"}]}]}]}]},
        ensure_ascii=False), encoding="utf-8")
    tasks = write_jsonl(tmp_path / "tasks.jsonl",
                        [{"instruction": "Скажи привет.", "output": "Привет!"}, {"bad": 1}])
    data = load_training_data([squad, tasks], DataOptions(), words)
    assert data.format == "squad+instructions" and data.dropped == {"bad_record": 1}
    assert [e.answer for e in data.examples] == ["Москва [1]", "Привет!"]
    assert len(load_training_data([squad, tasks], DataOptions(max_examples=1), words).examples) == 1
    with pytest.raises(TrainingDataError, match="empty"):
        load_training_data([squad, write_jsonl(tmp_path / "empty.jsonl", [])], DataOptions(), words)


# ----- poems ---------------------------------------------------------------------------------
POEM = "Белеет парус одинокой\nВ тумане моря голубом!.."
LONG = " ".join(["слово"] * 50)


def poem_records():
    return [
        {"author": "Михаил Лермонтов", "title": "Парус", "text": POEM, "year": 1832},
        {"author": "Михаил Лермонтов", "title": "Тучи", "text": "Тучки небесные, вечные странники!"},
        {"author": "Михаил Лермонтов", "title": "Длинное", "text": LONG},
        {"author": "", "title": "Без автора", "text": "Строка без автора"},
        {"author": "Фёдор Тютчев", "title": "* * *", "text": "Silentium!\nМолчи, скрывайся и таи"},
        {"author": "Фёдор Тютчев", "title": "Весенняя гроза", "text": "Люблю грозу в начале мая"},
    ]


def check_poem_examples(data):
    assert data.format == "poems"
    pairs = [(e.group, e.prompt, e.answer) for e in data.examples]
    assert pairs[0] == ("Михаил Лермонтов", build_poem_prompt("Михаил Лермонтов", "Парус"),
                        POEM + END_OF_POEM)
    assert data.dropped == {"no_author_or_title": 2, "too_long": 1}


def test_poems_from_json_lines_are_filtered_like_the_seed(tmp_path):
    data = load(write_jsonl(tmp_path / "poems.jsonl", poem_records()), poem_max_tokens=20)
    check_poem_examples(data)
    assert len(data.examples) == 3


def test_an_untitled_poem_can_take_its_first_line_as_title(tmp_path):
    from adapters.data_poems import holdout_poems

    path = write_jsonl(tmp_path / "poems.jsonl", poem_records())
    data = load(path, poem_max_tokens=20, first_line_titles=True)
    assert data.dropped == {"no_author_or_title": 1, "too_long": 1}  # the one without an author
    assert build_poem_prompt("Фёдор Тютчев", "Silentium") in [e.prompt for e in data.examples]
    held = holdout_poems(path, words, 20, 1, first_line_titles=True)
    assert [(p.author, p.title) for p in held] == [("Михаил Лермонтов", "Тучи"),
                                                   ("Фёдор Тютчев", "Весенняя гроза")]


def test_poems_from_poetrycorpus_xml(tmp_path):
    items = "".join(f"<item><name>{r['title']}</name><author>{r['author']}</author>"
                    f"<text>{r['text']}</text><date_from>1830</date_from><themes><item>Тема</item>"
                    "</themes></item>" for r in poem_records())
    path = tmp_path / "all.xml"
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?><items>{items}</items>', encoding="utf-8")
    check_poem_examples(load(path, poem_max_tokens=20))


def test_poems_from_the_django_dump(tmp_path):
    dump = [{"model": "corpus.Theme", "pk": 1, "fields": {"theme": "Море"}}] + [
        {"model": "corpus.Poem", "pk": n, "fields": {"name": r["title"], "author": r["author"],
                                                      "text": r["text"], "themes": [1]}}
        for n, r in enumerate(poem_records())]
    path = tmp_path / "all_django.json"
    path.write_text(json.dumps(dump, ensure_ascii=False), encoding="utf-8")
    check_poem_examples(load(path, poem_max_tokens=20))


def ruslit_tree(root: Path) -> Path:
    poems = root / "poems"
    for author, folder, titles in (("Александр Пушкин", "Pushkin", ["Зимнее утро", "Анчар", "Пророк"]),
                                   ("Михаил Лермонтов", "Lermontov", ["Парус", "Тучи"])):
        (poems / folder).mkdir(parents=True)
        for title in titles:
            (poems / folder / f"{title}.txt").write_text(
                f"{author}\n{title.upper()}\nПервая строка стихотворения «{title}»\nВторая строка\n",
                encoding="utf-8")
    (poems / "info.csv").write_text("name,year\nЗимнее утро,1829\n", encoding="utf-8")
    return poems


def test_ruslit_folder_with_a_per_author_holdout(tmp_path):
    data = load(ruslit_tree(tmp_path), holdout_per_author=1)
    assert data.format == "poems"
    held = {(h["author"], h["title"]) for h in data.holdout}
    assert held == {("Александр Пушкин", "Пророк"), ("Михаил Лермонтов", "Тучи")}
    trained = {(e.group, e.prompt) for e in data.examples}
    assert (("Александр Пушкин", build_poem_prompt("Александр Пушкин", "Анчар")) in trained
            and len(trained) == 3)
    assert all(e.answer.startswith("Первая строка") and e.answer.endswith(END_OF_POEM)
               for e in data.examples)


def test_max_per_author_caps_the_prolific_author_after_the_holdout(tmp_path):
    tree = ruslit_tree(tmp_path)
    data = load(tree, holdout_per_author=1, max_per_author=1)
    assert data.dropped["over_max_per_author"] == 1
    by_author = [e.group for e in data.examples]
    assert sorted(by_author) == ["Александр Пушкин", "Михаил Лермонтов"]
    assert len(data.holdout) == 2  # the hold-out is chosen before the cap
    again = load(tree, holdout_per_author=1, max_per_author=1)
    assert [e.prompt for e in again.examples] == [e.prompt for e in data.examples]


def test_one_ruslit_author_folder(tmp_path):
    folder = tmp_path / "poems" / "Pushkin"  # the RusLit layout: poems/<Author>/<Title>.txt
    folder.mkdir(parents=True)
    titles = ["Анчар", "Пророк", "Узник", "Поэт", "Деревня"]
    for title in titles:
        (folder / f"{title}.txt").write_text(
            f"Александр Пушкин\n{title.upper()}\nСтрока стихотворения «{title}»\n", encoding="utf-8")
    (folder / "Борис Годунов.txt").write_text(
        "Александр Пушкин\nБОРИС ГОДУНОВ\n" + "слово " * 700, encoding="utf-8")
    (folder / "info.csv").write_text("name,year\nАнчар,1828\n", encoding="utf-8")
    data = load(folder, poem_max_tokens=600, holdout_per_author=2)
    assert data.format == "poems" and data.dropped == {"too_long": 1}
    assert {e.group for e in data.examples} == {"Александр Пушкин"} and len(data.examples) == 3
    assert len(data.holdout) == 2 and {h["author"] for h in data.holdout} == {"Александр Пушкин"}
    held = {h["title"] for h in data.holdout}
    trained = {e.prompt for e in data.examples}
    assert trained == {build_poem_prompt("Александр Пушкин", t) for t in titles if t not in held}


def test_the_real_ruslit_pushkin_folder():
    data = load(shared_data("ruslit/poems/Pushkin"), poem_max_tokens=600, holdout_per_author=2)
    assert data.format == "poems" and len(data.examples) >= 15 and len(data.holdout) == 2
    assert {e.group for e in data.examples} == {"Александр Пушкин"}
    assert data.dropped.get("too_long", 0) >= 1  # "Борис Годунов" and the long poems


# ----- bad data ------------------------------------------------------------------------------
@pytest.mark.parametrize("name,content,message", [
    ("empty.jsonl", "", "is empty"),
    ("other.jsonl", '{"question": "a", "answer": "b"}\n', "no format Lira trains on"),
    ("broken.jsonl", '{"instruction": "a", "output": "b"}\nnot json\n', "line 2 is not JSON"),
    ("nothing.jsonl", '{"instruction": "a", "output": ""}\n', "no training examples"),
])
def test_bad_data_is_a_one_line_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TrainingDataError, match=message) as caught:
        load(path)
    assert "\n" not in str(caught.value)


def test_missing_data_and_wrong_forced_format(tmp_path):
    with pytest.raises(TrainingDataError, match="does not exist"):
        load(tmp_path / "absent.jsonl")
    path = write_jsonl(tmp_path / "i.jsonl", [{"instruction": "a", "output": "b"}])
    with pytest.raises(TrainingDataError, match="not a SQuAD file"):
        load(path, format="squad")


def test_data_sha256_of_files_and_folders(tmp_path):
    folder = ruslit_tree(tmp_path)
    first = data_sha256(folder)
    (folder / "Pushkin" / "Анчар.txt").write_text("Александр Пушкин\nАНЧАР\nиначе\n", encoding="utf-8")
    assert data_sha256(folder) != first and len(first) == 64
    path = write_jsonl(tmp_path / "x.jsonl", [{"instruction": "a", "output": "b"}])
    import hashlib

    assert data_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


# ----- tokenisation and loss masks -----------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizers(tiny_models):
    from transformers import AutoTokenizer

    return {kind: AutoTokenizer.from_pretrained(tiny_models[kind]) for kind in ("gpt2", "t5")}


def test_causal_labels_are_ignored_exactly_on_the_prompt(tokenizers):
    tok = tokenizers["gpt2"]
    example = Example(build_plain_prompt("Какая столица России?"), "Москва [1]")
    encoded = encode_example(example, tok, seq2seq=False)
    prompt_ids = tok(example.prompt, add_special_tokens=False)["input_ids"]
    n = len(prompt_ids)
    assert encoded.input_ids[:n] == prompt_ids
    assert encoded.labels[:n] == [IGNORE] * n
    assert encoded.labels[n:] == encoded.input_ids[n:] and IGNORE not in encoded.labels[n:]
    assert encoded.input_ids[-1] == tok.eos_token_id
    assert tok.decode(encoded.input_ids[n:-1]) == " Москва [1]"


def test_poem_answer_ends_with_the_marker_then_eos(tokenizers):
    tok = tokenizers["gpt2"]
    example = Example(build_poem_prompt("Пушкин", "Зимнее утро"), "Мороз и солнце" + END_OF_POEM)
    encoded = encode_example(example, tok, seq2seq=False)
    answer = [i for i, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE]
    assert tok.decode(answer[:-1]) == "Мороз и солнце" + END_OF_POEM  # no space after "\n"
    assert answer[-1] == tok.eos_token_id


def test_seq2seq_prompt_is_the_encoder_input(tokenizers):
    tok = tokenizers["t5"]
    example = Example("Вопрос: Какая столица России?\nОтвет:", "Москва")
    encoded = encode_example(example, tok, seq2seq=True)
    assert encoded.input_ids == tok(example.prompt)["input_ids"]
    assert encoded.labels == tok("Москва", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]


def test_too_long_examples_are_dropped_and_padding_is_masked(tokenizers):
    tok = tokenizers["gpt2"]
    short, long = Example("Вопрос: а?\nОтвет:", "да"), Example("Вопрос: " + "б " * 300, "нет")
    kept, dropped = encode_all([short, long, short], tok, False, max_length=64)
    assert dropped == 1 and len(kept) == 2
    batch = Collator(tok.pad_token_id)([kept[0], encode_example(
        Example("Вопрос: длиннее, чем первый?\nОтвет:", "да"), tok, False)])
    row = batch["attention_mask"][0]
    width = int(row.sum())
    assert (batch["labels"][0, width:] == IGNORE).all()
    assert (batch["input_ids"][0, width:] == tok.pad_token_id).all()
