"""The chat history store: versioned schema, conversations, streamed answers, sources."""

from __future__ import annotations

import sqlite3

import pytest

from assistant.chat import history as history_module
from assistant.chat.history import AnswerStats, History, HistoryError, ModelUsed
from assistant.rag import Source


class Clock:
    """A controllable clock, so ordering by time is deterministic."""

    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def history(tmp_path):
    store = History.open(tmp_path / "history.sqlite", clock=Clock())
    yield store
    store.close()


def test_new_file_is_at_the_latest_schema_version(history):
    assert history.version == len(history_module.MIGRATIONS)
    tables = {r[0] for r in history.conn.execute("SELECT name FROM sqlite_master "
                                                 "WHERE type = 'table'")}
    assert {"conversations", "messages", "sources"} <= tables


def test_reopening_keeps_data_and_version(tmp_path):
    path = tmp_path / "history.sqlite"
    first = History.open(path)
    conversation = first.create_conversation("chat", "Привет")
    first.close()
    second = History.open(path)
    assert second.version == len(history_module.MIGRATIONS)
    assert [c.id for c in second.conversations()] == [conversation]


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "history.sqlite"
    History.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(HistoryError, match="newer than this Lira"):
        History.open(path)


def test_a_damaged_file_is_a_history_error(tmp_path):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(HistoryError, match="damaged"):
        History.open(path)


def test_migrations_run_in_order_and_keep_data(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    old = History.open(path)
    conversation = old.create_conversation("chat", "Старый")
    old.close()
    upgrade = "ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;"
    monkeypatch.setattr(history_module, "MIGRATIONS", [*history_module.MIGRATIONS, upgrade])
    new = History.open(path)
    assert new.version == len(history_module.MIGRATIONS)
    assert new.conn.execute("SELECT title, pinned FROM conversations WHERE id = ?",
                            (conversation,)).fetchone() == ("Старый", 0)


def test_a_conversation_with_a_streamed_answer_and_sources(history):
    conversation = history.create_conversation("documents", "Петербург")
    history.add_question(conversation, "Когда основан Петербург?", "documents", "default")
    answer = history.start_answer(conversation, "documents", ModelUsed("gemma", "", "cpu"),
                                  "default")
    history.set_sources(answer, [Source(1, "/d/spb.md", "Петербург", "", "Основан в 1703.",
                                        0.031),
                                 Source(2, "/d/msk.md", "Москва", "Автор", "Столица.", 0.016)])
    history.save_partial(answer, "Основан")
    partial = history.messages(conversation)[-1]
    assert partial.text == "Основан" and partial.complete is False and partial.stats is None
    history.finish_answer(answer, "Основан в 1703 году [1].",
                          AnswerStats(120, 9, 0.4, 1.2, "eos"))
    question, done = history.messages(conversation)
    assert (question.role, question.text, question.index_name) == (
        "user", "Когда основан Петербург?", "default")
    assert done.complete and done.text == "Основан в 1703 году [1]."
    assert done.model == ModelUsed("gemma", "", "cpu")
    assert done.stats.new_tokens == 9 and done.stats.first_token_s == 0.4
    assert done.stats.tokens_per_s == pytest.approx(8 / 0.8)
    assert [s.n for s in done.sources] == [1, 2] and done.sources[1].author == "Автор"
    [listed] = history.conversations()
    assert listed.messages == 2 and listed.mode == "documents"


def test_conversations_are_listed_most_recent_first(history):
    first = history.create_conversation("chat", "Первый")
    second = history.create_conversation("chat", "Второй")
    assert [c.id for c in history.conversations()] == [second, first]
    history.add_question(first, "ещё вопрос", "poem", author="Пушкин")
    assert history.latest().id == first
    assert history.latest().mode == "poem"  # a conversation takes its last message's mode
    assert history.messages(first)[0].author == "Пушкин"


def test_deleting_a_conversation_removes_its_messages_and_sources(history):
    conversation = history.create_conversation("documents")
    history.add_question(conversation, "?", "documents")
    answer = history.start_answer(conversation, "documents")
    history.set_sources(answer, [Source(1, "p", "t", "", "x", 0.5)])
    history.delete_conversation(conversation)
    assert history.conversations() == []
    counts = [history.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("messages", "sources")]
    assert counts == [0, 0]


def test_a_killed_writer_loses_nothing_committed(tmp_path):
    path = tmp_path / "history.sqlite"
    writer = History.open(path)
    conversation = writer.create_conversation("chat")
    answer = writer.start_answer(conversation, "chat")
    writer.save_partial(answer, "Часть ответа")
    # No close(): as if the process died.  Another connection sees the partial text.
    reader = History.open(path)
    assert reader.messages(conversation)[0].text == "Часть ответа"


def test_a_first_version_file_gains_searched_queries_and_named_sessions(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    monkeypatch.setattr(history_module, "MIGRATIONS", history_module.MIGRATIONS[:1])
    old = History.open(path)
    kept = old.create_conversation("documents", "Петербург")
    old.close()
    monkeypatch.undo()
    history = History.open(path)
    assert history.version == 2 and history.conversation(kept).title == "Петербург"
    session = history.session("работа", "documents")
    assert history.session("работа", "chat") == session != kept  # found by name, once
    history.add_question(session, "А когда он умер?", "documents")
    answer = history.start_answer(session, "documents")
    history.set_searched(answer, "А когда он умер? Никола Тесла")
    history.finish_answer(answer, "В 1943 году.")
    assert [m.searched for m in history.messages(session)] == [None,
                                                                "А когда он умер? Никола Тесла"]
