"""Poem corpora: PoetryCorpus XML and JSON, JSON lines, the RusLit layout and collections."""

import json
from collections import Counter
from pathlib import Path

import pytest

from index.ingest import IngestOptions, index_path
from index.poem_split import is_collection, split_poems
from index.readers import Document, Skip, parse_documents
from tests.conftest import SHARED_DATA, shared_data

RUSLIT = SHARED_DATA / "ruslit"  # read through shared_data(), which skips where it is absent

POETRYCORPUS_XML = """<?xml version="1.0" encoding="UTF-8"?><items>
<item><name>Парус</name><author>Михаил Лермонтов</author>
<text>Белеет парус одинокой
В тумане моря голубом!..</text><date_from>1832</date_from><date_to>1832</date_to>
<themes><item>Море</item><item>Одиночество</item></themes></item>
<item><name></name><author>Фёдор Тютчев</author>
<text>Silentium!
Молчи, скрывайся и таи
И чувства и мечты свои</text><date_from></date_from><date_to>1830</date_to><themes></themes></item>
<item><name>Пустое</name><author>Никто</author><text></text></item>
<item><author>Афанасий Фет</author><text>Шепот, робкое дыханье.
Трели соловья,</text></item>
</items>"""


def test_poetrycorpus_xml(tmp_path):
    docs = parse_documents(tmp_path / "all.xml", POETRYCORPUS_XML.encode())
    assert [(d.title, d.author, d.year) for d in docs] == [
        ("Парус", "Михаил Лермонтов", 1832),
        ("Silentium", "Фёдор Тютчев", 1830),  # no name: the first line, as PoetryCorpus names it
        ("Шепот, робкое дыханье", "Афанасий Фет", None),
    ]
    assert all(d.kind == "poem" for d in docs) and [d.part for d in docs] == [0, 1, 2]
    assert docs[0].text == "Белеет парус одинокой\nВ тумане моря голубом!.."
    assert "Море" not in docs[0].text  # themes are <item>s too, but not poems


def test_poetrycorpus_django_dump(tmp_path):
    dump = [
        {"model": "corpus.Theme", "pk": 1, "fields": {"theme": "Любовь"}},
        {"model": "corpus.Poem", "pk": 1, "fields": {
            "name": "Я вас любил", "author": "Александр Пушкин",
            "text": "Я вас любил: любовь еще, быть может,\nВ душе моей угасла не совсем;",
            "date_from": "1829", "date_to": "1829", "themes": [1]}},
        {"model": "corpus.Poem", "pk": 2, "fields": {
            "author": "Александр Блок", "text": "Ночь, улица, фонарь, аптека,\nБессмысленный и тусклый свет.",
            "date_to": 1912, "themes": []}},
    ]
    docs = parse_documents(tmp_path / "all_django.json", json.dumps(dump, ensure_ascii=False).encode())
    assert [(d.title, d.author, d.year, d.kind) for d in docs] == [
        ("Я вас любил", "Александр Пушкин", 1829, "poem"),
        ("Ночь, улица, фонарь, аптека", "Александр Блок", 1912, "poem"),
    ]


def test_json_lines(tmp_path):
    lines = [
        {"author": "Сергей Есенин", "title": "Берёза", "text": "Белая берёза\nПод моим окном", "year": 1913},
        "this line is damaged {",
        {"author": "Анна Ахматова", "title": "", "text": "Сжала руки под тёмной вуалью...", "year": "1911"},
        {"author": "Без текста", "title": "Пусто", "text": ""},
    ]
    data = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
    docs = parse_documents(tmp_path / "poems.jsonl", data.encode())
    assert [(d.title, d.author, d.year) for d in docs] == [
        ("Берёза", "Сергей Есенин", 1913), ("Сжала руки под тёмной вуалью", "Анна Ахматова", 1911)]
    assert docs[0].text == "Белая берёза\nПод моим окном" and docs[1].part == 1


@pytest.mark.parametrize("name, data, reason", [
    ("notes.xml", b"<?xml version='1.0'?><notes><note>hi</note></notes>", "not a poem corpus"),
    ("items.xml", b"<items><item><title>no text</title></item></items>", "not a poem corpus"),
    ("broken.xml", b"<items><item><text>unclosed", "broken XML"),
    ("config.json", b'{"model": "gpt", "layers": 12}', "not a poem corpus"),
    ("other.json", b'[{"model": "corpus.Theme", "fields": {}}, "corpus.Poem"]', "not a poem corpus"),
    ("broken.json", b'[{"model": "corpus.Poem", "fields": {', "broken JSON"),
    ("log.jsonl", b'{"level": "info", "text": "started"}\n', "not poems"),
    ("junk.jsonl", b"not json at all\n", "broken JSON lines"),
])
def test_files_that_are_not_poem_corpora(tmp_path, name, data, reason):
    with pytest.raises(Skip, match=reason):
        parse_documents(tmp_path / name, data)


COLLECTION = """СОДЕРЖАНИЕ

  "Первое стихотворение"
  Второе ("Второе начало")
  Цикл: 1. "Часть первая" 2. "Часть вторая"


ПЕРВЫЙ РАЗДЕЛ

(1901 - 1902)

             Эпиграф к разделу
                       Кто-то


        * * *

                    Посвящение другу

Первое стихотворение, строка раз,
Строка два, и ещё одна.

Вторая строфа звучит тихо,
И кончается здесь.

Январь 1901. С.-Петербург
1) - примечание к первому.


         ВТОРОЕ

Второе начало идёт по полю,
Второе продолжение в лесу,
Третья строка для счёта,
Четвёртая строка.

3 - 8 июня 1901


       ЦИКЛ

          1

Часть первая цикла, строка,
Ещё строка части первой,
Третья, четвёртая строка.

Май 1902

          2

Часть вторая цикла, строка,
И ещё одна строка,
И последняя строка.

Сентябрь (?) 1902
"""


def test_collection_split_rule():
    assert is_collection(COLLECTION) and not is_collection("Одно стихотворение\nбез дат\n")
    poems = split_poems(COLLECTION)
    assert [(p.title, p.year) for p in poems] == [
        ("Первое стихотворение, строка раз", 1901),  # "* * *": the first line, past the dedication
        ("ВТОРОЕ", 1901),
        ("ЦИКЛ. 1", 1902),
        ("ЦИКЛ. 2", 1902),
    ]
    first = poems[0].text
    assert "СОДЕРЖАНИЕ" not in first and "Второе (" not in first  # the table of contents is dropped
    assert first.startswith("ПЕРВЫЙ РАЗДЕЛ") and "Эпиграф к разделу" in first  # section heading kept
    assert "* * *" not in first and first.rstrip().endswith("1) - примечание к первому.")
    assert poems[1].text.startswith("Второе начало") and "ВТОРОЕ" not in poems[1].text


def _ruslit_tree(root: Path) -> Path:
    author = root / "poems" / "Pushkin"
    author.mkdir(parents=True)
    (root / "poems" / "info.csv").write_text(
        "name,year\nЗимнее утро,1829\nВчерашний день, часу в шестом...,1848\n\"Я вас любил\",1829-1830\n",
        encoding="utf-8")
    (author / "Зимнее утро.txt").write_text(
        "Александр Пушкин\nЗИМНЕЕ УТРО\nМороз и солнце; день чудесный!\nЕщё ты дремлешь, друг прелестный\n",
        encoding="utf-8")
    (author / "Я вас любил.txt").write_bytes(
        "Александр Сергеевич Пушкин\n* * *\nЯ вас любил: любовь еще, быть может,\n".encode("cp1251"))
    (author / "Вчерашний день, часу в шестом....txt").write_text(
        "* * *\nВчерашний день, часу в шестом,\nЗашел я на Сенную;\n", encoding="utf-8")
    (author / "Евгений Онегин.txt").write_text(
        "Евгений Онегин\nРоман в стихах\nМой дядя самых честных правил\n", encoding="utf-8")
    return author


def test_ruslit_layout_authors_titles_and_years(tmp_path):
    folder = _ruslit_tree(tmp_path)
    docs = {p.name: parse_documents(p, p.read_bytes(), layout="ruslit")[0] for p in folder.glob("*.txt")}
    morning = docs["Зимнее утро.txt"]
    assert (morning.author, morning.title, morning.year, morning.kind) == (
        "Александр Пушкин", "Зимнее утро", 1829, "poem")
    assert morning.text.startswith("Мороз и солнце") and "ЗИМНЕЕ УТРО" not in morning.text
    loved = docs["Я вас любил.txt"]
    assert (loved.title, loved.year, loved.text) == (
        "Я вас любил", 1829, "Я вас любил: любовь еще, быть может,")
    # No author line: the folder's author; the name with a comma is found in the unquoted CSV row.
    market = docs["Вчерашний день, часу в шестом....txt"]
    assert (market.author, market.title, market.year) == (
        "Александр Пушкин", "Вчерашний день, часу в шестом...", 1848)
    # A title shaped like a person's name is not taken for the author.
    onegin = docs["Евгений Онегин.txt"]
    assert (onegin.author, onegin.title) == ("Александр Пушкин", "Евгений Онегин")
    assert onegin.text == "Роман в стихах\nМой дядя самых честных правил"


def test_auto_layout_keeps_plain_text_as_it_is(tmp_path):
    folder = _ruslit_tree(tmp_path)
    path = folder / "Зимнее утро.txt"
    [doc] = parse_documents(path, path.read_bytes())
    assert (doc.title, doc.author, doc.year, doc.kind) == ("Зимнее утро", "", None, "text")
    assert doc.text.startswith("Александр Пушкин\nЗИМНЕЕ УТРО")


def test_ruslit_prose_is_text_and_author_and_title_can_share_a_line(tmp_path):
    folder = tmp_path / "prose" / "Bryusov"
    folder.mkdir(parents=True)
    (folder / "Бемоль.txt").write_text("Валерий Брюсов. Бемоль\n\nИз жизни одной души\n", encoding="utf-8")
    [doc] = parse_documents(folder / "Бемоль.txt", (folder / "Бемоль.txt").read_bytes(), layout="ruslit")
    assert (doc.author, doc.title, doc.kind, doc.text) == ("Валерий Брюсов", "Бемоль", "text", "Из жизни одной души")


def test_ruslit_folder_of_several_authors_keeps_each_files_author(tmp_path):
    folder = tmp_path / "poems" / "mixed"
    folder.mkdir(parents=True)
    for name, author in (("Анчар", "Александр Пушкин"), ("Узник", "Александр Пушкин"),
                         ("Парус", "Михаил Лермонтов"), ("Тучи", "Михаил Лермонтов")):
        (folder / f"{name}.txt").write_text(f"{author}\n{name.upper()}\nСтрока стихотворения\n", encoding="utf-8")
    authors = {p.stem: parse_documents(p, p.read_bytes(), layout="ruslit")[0].author for p in folder.iterdir()}
    assert authors == {"Анчар": "Александр Пушкин", "Узник": "Александр Пушкин",
                       "Парус": "Михаил Лермонтов", "Тучи": "Михаил Лермонтов"}


def test_ruslit_collection_is_split(tmp_path):
    folder = tmp_path / "poems" / "Blok"
    folder.mkdir(parents=True)
    path = folder / "Стихотворения.txt"
    path.write_text("Александр Блок\n\nСтихотворения\n\n" + COLLECTION, encoding="utf-8")
    docs = parse_documents(path, path.read_bytes(), layout="ruslit")
    assert [d.title for d in docs] == ["Первое стихотворение, строка раз", "ВТОРОЕ", "ЦИКЛ. 1", "ЦИКЛ. 2"]
    assert {d.author for d in docs} == {"Александр Блок"} and [d.part for d in docs] == [0, 1, 2, 3]
    assert all(d.kind == "poem" and d.path == str(path) for d in docs)


def test_ingest_passes_the_layout_through(tmp_path, tiny_embedder_dir):
    from index.embeddings import Embedder
    from index.store import IndexStore

    folder = _ruslit_tree(tmp_path)
    embedder = Embedder(tiny_embedder_dir, "tiny")
    for layout, author in (("auto", ""), ("ruslit", "Александр Пушкин")):
        store = IndexStore.open(tmp_path / f"index-{layout}", create=True)
        report = index_path(folder, store, embedder, IngestOptions(layout=layout))
        assert report.added == 4 and not report.skipped
        authors = {r[0] for r in store.conn.execute("SELECT author FROM documents")}
        assert authors == {author}
        kinds = {r[0] for r in store.conn.execute("SELECT kind FROM documents")}
        assert kinds == ({"poem"} if layout == "ruslit" else {"text"})


def test_unknown_layout_is_refused():
    from index.errors import ReaderError

    with pytest.raises(ReaderError, match="unknown layout"):
        IngestOptions(layout="mystery")


def test_document_kind_defaults_to_text():
    assert Document(path="p", text="t", title="t").kind == "text"


@pytest.fixture(scope="module")
def ruslit_poems():
    """The real RusLit poems, parsed: these tests check counts of the real corpus (the layout
    itself is checked on small trees above)."""
    return {p: parse_documents(p, p.read_bytes(), layout="ruslit")
            for p in sorted(shared_data("ruslit/poems").rglob("*.txt"))}


def test_every_ruslit_poem_file_parses_with_the_right_author(ruslit_poems):
    names = {"Blok": "Александр Блок", "Pushkin": "Александр Пушкин",
             "Lermontov": "Михаил Лермонтов", "Nekrasov": "Николай Некрасов"}
    per_author = Counter()
    for path, docs in ruslit_poems.items():
        assert docs, path
        for doc in docs:
            assert doc.kind == "poem" and doc.title and doc.text.strip(), (path, doc.title)
            assert doc.author == names[path.parent.name], (path, doc.author)
        per_author[path.parent.name] += len(docs)
    assert per_author["Pushkin"] == 35 and per_author["Lermontov"] == 18 and per_author["Nekrasov"] == 15
    assert per_author["Blok"] > 1000


def test_blok_collections_are_split_into_poems(ruslit_poems):
    counts = {p.name: len(d) for p, d in ruslit_poems.items() if p.parent.name == "Blok"}
    for name, count in counts.items():
        if name.startswith("Стихотворения"):
            assert count >= 200, (name, count)  # each book holds a few hundred poems
    assert counts["Шуточные стихи и сценки.txt"] >= 10
    for single in ("Двенадцать.txt", "Скифы.txt", "Соловьиный сад.txt", "Возмездие.txt"):
        assert counts[single] == 1
    book = ruslit_poems[RUSLIT / "poems" / "Blok" / "Стихотворения. Книга первая (1898-1904).txt"]
    # Its table of contents lists 271 poems; each split poem carries its own date.
    assert 250 <= len(book) <= 290
    assert sum(d.year is not None for d in book) >= 0.9 * len(book)
    assert book[0].title == "Пусть светит месяц - ночь темна" and book[0].year == 1898
    assert all(1897 <= d.year <= 1908 for d in book if d.year)  # a few poems were redone later
    titles = [d.title for d in ruslit_poems[RUSLIT / "poems" / "Blok" / "Стихотворения. Книга вторая (1904-1908).txt"]]
    assert "НЕЗНАКОМКА" in titles


def test_ruslit_years_come_from_info_csv(ruslit_poems):
    [morning] = ruslit_poems[RUSLIT / "poems" / "Pushkin" / "Зимнее утро.txt"]
    assert (morning.title, morning.year) == ("Зимнее утро", 1829)
    assert morning.text.startswith("Мороз и солнце")
    [twelve] = ruslit_poems[RUSLIT / "poems" / "Blok" / "Двенадцать.txt"]
    assert (twelve.title, twelve.year) == ("Двенадцать", 1918)
