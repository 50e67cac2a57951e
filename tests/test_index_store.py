"""The FAISS + SQLite store and incremental indexing, with a tiny real embedder."""

import os
import time

import numpy as np
import pytest

from index.embeddings import Embedder
from index.errors import ReaderError, StoreError
from index.ingest import IngestOptions, index_path
from index.search import Searcher
from index.store import IndexStore


@pytest.fixture(scope="module")
def embedder(tiny_embedder_dir):
    return Embedder(tiny_embedder_dir, "tiny")


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "moscow.txt").write_text("Москва — столица России. Москва большая.", encoding="utf-8")
    (folder / "cats.md").write_text("# Кошки\n\nКошка спит на диване.", encoding="utf-8")
    (folder / "old.txt").write_bytes("Старый текст в кодировке cp1251.".encode("cp1251"))
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (folder / "empty.txt").write_bytes(b"")
    return folder


def open_store(tmp_path):
    return IndexStore.open(tmp_path / "index", create=True)


def test_index_then_search_finds_exact_text(tmp_path, docs, embedder):
    store = open_store(tmp_path)
    report = index_path(docs, store, embedder)
    assert (report.added, report.updated, report.removed) == (3, 0, 0)
    assert {os.path.basename(s["path"]) for s in report.skipped} == {"image.png", "empty.txt"}
    hits = Searcher(store, embedder).search("Москва — столица России. Москва большая.", k=3)
    assert hits[0].path.endswith("moscow.txt") and hits[0].dense_score > 0.99
    assert [h.rank for h in hits] == [1, 2, 3]
    titles = {h.title for h in hits}
    assert "Кошки" in titles and "old" in titles
    old = next(h for h in hits if h.title == "old")
    assert "кодировке" in old.text


def test_reindex_touches_only_changes(tmp_path, docs, embedder):
    store = open_store(tmp_path)
    index_path(docs, store, embedder)
    again = index_path(docs, store, embedder)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 3)
    (docs / "moscow.txt").write_text("Москва — столица. Новый текст.", encoding="utf-8")
    (docs / "cats.md").unlink()
    (docs / "new.txt").write_text("Новый документ о собаках.", encoding="utf-8")
    os.utime(docs / "old.txt", (time.time() + 5, time.time() + 5))  # touched, same bytes
    third = index_path(docs, store, embedder)
    assert (third.added, third.updated, third.removed, third.unchanged) == (1, 1, 1, 1)
    paths = {r.path for r in store.chunks(range(1, 100))}
    assert not any(p.endswith("cats.md") for p in paths)
    assert store.chunk_count() == len(paths) == 3
    hits = Searcher(store, embedder).search("Москва — столица. Новый текст.", k=1)
    assert hits[0].text == "Москва — столица. Новый текст."


def test_faiss_cache_is_rebuilt_after_a_crash(tmp_path, docs, embedder):
    store = open_store(tmp_path)
    index_path(docs, store, embedder)
    store.close()
    for cache in (tmp_path / "index").glob("vectors.*.faiss"):
        cache.write_bytes(b"garbage")  # a crash mid-write, or a damaged disk
    reopened = IndexStore.open(tmp_path / "index")
    hits = Searcher(reopened, embedder).search("# Кошки\n\nКошка спит на диване.", k=1)
    assert hits and hits[0].path.endswith("cats.md")


def test_generation_mismatch_rebuilds_from_catalog(tmp_path, docs, embedder):
    store = open_store(tmp_path)
    index_path(docs, store, embedder)
    before = store.chunk_count()
    # Simulate a run that committed to SQLite but died before writing FAISS.
    with store.transaction():
        pass
    store.close()
    reopened = IndexStore.open(tmp_path / "index")
    assert not (tmp_path / "index" / f"vectors.{reopened.generation}.faiss").exists()
    assert reopened._vectors().size == before


def test_failed_write_keeps_previous_state(tmp_path, docs, embedder, monkeypatch):
    store = open_store(tmp_path)
    index_path(docs, store, embedder)
    count = store.chunk_count()
    (docs / "moscow.txt").write_text("Совсем другой текст про Москву.", encoding="utf-8")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(IndexStore, "_insert_document", boom)
    with pytest.raises(KeyboardInterrupt):
        index_path(docs, store, embedder)
    monkeypatch.undo()
    assert store.chunk_count() == count
    hits = Searcher(store, embedder).search("Москва — столица России. Москва большая.", k=1)
    assert hits[0].text.startswith("Москва — столица России")
    resumed = index_path(docs, store, embedder)
    assert resumed.updated == 1


def test_second_writer_is_refused(tmp_path, docs, embedder):
    store = open_store(tmp_path)
    other = IndexStore.open(tmp_path / "index")
    with store.write_lock():
        with pytest.raises(StoreError, match="another lira process"):
            index_path(docs, other, embedder)


def test_other_embedder_is_refused(tmp_path, docs, embedder):
    store = open_store(tmp_path)
    index_path(docs, store, embedder)
    with pytest.raises(StoreError, match="built with embedder 'tiny'"):
        store.check_embedder("multilingual-e5-small", 384)


def test_missing_path_and_missing_index(tmp_path, embedder):
    with pytest.raises(ReaderError, match="no such file"):
        index_path(tmp_path / "nope", open_store(tmp_path), embedder)
    with pytest.raises(StoreError, match="lira index"):
        IndexStore.open(tmp_path / "absent")


def test_symlink_loop_and_unreadable_file_are_skipped(tmp_path, docs, embedder):
    (docs / "loop").symlink_to(docs)
    secret = docs / "secret.txt"
    secret.write_text("тайна", encoding="utf-8")
    secret.chmod(0)
    report = index_path(docs, open_store(tmp_path), embedder)
    reasons = {os.path.basename(s["path"]): s["reason"] for s in report.skipped}
    assert "loop" in reasons
    if os.geteuid() != 0:  # root reads anything
        assert "permission" in reasons["secret.txt"]
    assert report.added >= 3


def test_vectors_round_trip_through_sqlite(tmp_path, docs, embedder):
    store = open_store(tmp_path)
    index_path(docs, store, embedder, IngestOptions(chunk_tokens=16, chunk_overlap=4))
    rebuilt = store._rebuild_vectors()
    assert rebuilt.size == store.chunk_count()
    query = embedder.embed_queries(["Кошка"])
    assert rebuilt.search(query, 3) == store._vectors().search(query, 3)
    ids = [cid for cid, _ in rebuilt.search(query, 3)[0]]
    assert np.allclose(store.vectors_of(ids) @ query[0],
                       [score for _, score in rebuilt.search(query, 3)[0]], atol=1e-5)


def test_a_reader_sees_another_writers_changes(tmp_path, docs, embedder):
    writer = open_store(tmp_path)
    index_path(docs, writer, embedder)
    reader = IndexStore.open(tmp_path / "index")
    searcher = Searcher(reader, embedder)
    assert searcher.search("Новый документ о собаках.", k=1)[0].text != "Новый документ о собаках."
    (docs / "new.txt").write_text("Новый документ о собаках.", encoding="utf-8")
    index_path(docs, writer, embedder)
    assert searcher.search("Новый документ о собаках.", k=1)[0].text == "Новый документ о собаках."


def test_index_from_a_newer_lira_is_refused(tmp_path):
    import sqlite3

    open_store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "index" / "catalog.sqlite")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="v99 is newer than this Lira"):
        IndexStore.open(tmp_path / "index")
