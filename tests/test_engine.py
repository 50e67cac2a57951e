"""The Engine's own workflows with tiny models: finished answers and the index methods."""

import json

import pytest

from assistant.engine import EMPTY, MISSING, Answer, Engine
from index.errors import StoreError
from index.store import IndexStore
from tests.poems import POEMS


@pytest.fixture
def closes(monkeypatch):
    """How many stores have been closed so far (a list of the closed folders)."""
    closed = []
    original = IndexStore.close

    def close(store):
        closed.append(store.folder)
        original(store)

    monkeypatch.setattr(IndexStore, "close", close)
    return closed


def test_index_path_indexes_with_the_engine_embedder_and_closes(tiny_settings, docs, closes):
    engine = Engine(tiny_settings)
    assert not engine.index_exists("mine")
    heard = []
    report = engine.index_path(docs, "mine", progress=lambda *counts: heard.append(counts))
    assert report.added == 2 and report.chunks >= 2 and heard[-1][:2] == (2, 2)
    assert engine.index_exists("mine") and not engine.index_exists()
    assert closes == [tiny_settings.index_dir("mine")]
    assert engine.index_path(docs, "mine").unchanged == 2
    assert len(closes) == 2


def test_a_missing_or_empty_index_has_no_searcher(tiny_settings, closes):
    engine = Engine(tiny_settings)
    assert engine.ready_searcher("absent") == (None, MISSING)
    IndexStore.open(tiny_settings.index_dir("empty"), create=True).close()
    assert engine.ready_searcher("empty") == (None, EMPTY)
    assert len(closes) == 2  # the empty store was not left open


def test_authors_of_poems_or_of_any_document(tiny_settings, tmp_path, closes):
    engine = Engine(tiny_settings)
    with pytest.raises(StoreError, match="no index"):
        engine.authors("poems")
    corpus = tmp_path / "poems"
    corpus.mkdir()
    (corpus / "poems.jsonl").write_text(
        "\n".join(json.dumps(p, ensure_ascii=False) for p in POEMS), encoding="utf-8")
    engine.index_path(corpus, "poems")
    assert engine.authors("poems") == [("Александр Пушкин", 3), ("Михаил Лермонтов", 1)]
    prose = tmp_path / "prose"
    prose.mkdir()
    (prose / "detstvo.txt").write_text("Лев Толстой\nДетство\n\nБыло утро.", encoding="utf-8")
    engine.index_path(prose, "prose", layout="ruslit")
    assert engine.authors("prose") == [("Лев Толстой", 1)]
    assert engine.authors("prose", poems_only=True) == []
    assert len(closes) == 5  # every store opened above was closed


def test_finish_answer_cites_and_checks(tiny_settings, docs):
    engine = Engine(tiny_settings)
    engine.index_path(docs)
    prepared = engine.prepare_answer("Когда основан Петербург?", k=2, max_new_tokens=4)
    assert prepared.retrieval and len(prepared.sources) == 2
    text = "  Петербург основан в 1703 году [2]. Москва — столица [1, 2, 7].\n"
    answer = engine.finish_answer(prepared, text)
    assert isinstance(answer, Answer) and answer.question == "Когда основан Петербург?"
    assert answer.text == text.strip() and answer.cited == [2, 1]
    assert answer.check is None and answer.sources == prepared.sources and answer.retrieval
    checked = engine.checked(answer)
    assert checked.check is not None and 0.0 <= checked.check.score <= 1.0
    assert [s.text for s in checked.check.sentences] == ["Петербург основан в 1703 году.",
                                                         "Москва — столица."]
    assert checked.check.sentences[0].verdict == "supported"
    assert checked.text == answer.text and checked.cited == answer.cited


def test_finish_answer_reads_the_stream_and_checks_when_asked(tiny_settings, docs):
    engine = Engine(tiny_settings)
    engine.index_path(docs)
    prepared = engine.prepare_answer("Когда основан Петербург?", k=2, max_new_tokens=6)
    answer = engine.finish_answer(prepared, check=True)
    assert answer.text == answer.text.strip() and 0 < answer.stats.new_tokens <= 6
    assert answer.check is not None and answer.stats is prepared.stream.stats
    bare = engine.prepare_answer("Когда?", use_rag=False, max_new_tokens=2)
    unchecked = engine.finish_answer(bare, check=True)  # no sources: nothing to check against
    assert unchecked.check is None and unchecked.sources == [] and unchecked.cited == []


def test_an_empty_answer_checks_without_loading_models(tiny_settings, docs):
    engine = Engine(tiny_settings)
    engine.index_path(docs)
    prepared = engine.prepare_answer("Когда основан Петербург?", k=2, max_new_tokens=2)
    answer = engine.finish_answer(prepared, " \n", check=True)
    assert answer.text == "" and answer.check.to_dict() == {"score": 1.0, "nothing_checked": True,
                                                             "sentences": []}
    assert engine._nli is None  # the NLI setting was never loaded for it


def test_the_decoding_of_answers_comes_from_the_call_then_the_settings(tiny_settings):
    from dataclasses import replace

    from assistant.runtime.presets import PRESETS
    from assistant.settings import DecodingSettings

    settings = replace(tiny_settings, decoding=DecodingSettings(num_beams=4, temperature=0.2))
    engine = Engine(settings)
    assert engine.preset("answer") == PRESETS["answer"].with_overrides(
        num_beams=4, temperature=0.2, do_sample=True, max_new_tokens=settings.max_new_tokens)
    chat = engine.preset("chat", 16, DecodingSettings(repetition_penalty=1.3))
    assert (chat.num_beams, chat.do_sample, chat.repetition_penalty, chat.max_new_tokens) == (1, False, 1.3, 16)
