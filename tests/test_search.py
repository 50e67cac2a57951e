"""Hybrid search: BM25 over stems, RRF fusion, filters and MMR on a real store."""

import numpy as np
import pytest

from index.embeddings import Embedder
from index.errors import StoreError
from index.filters import Filters
from index.search import Searcher, SearchOptions, mmr, rrf
from index.store import DocumentChunks, FileState, IndexStore

POEMS = [
    ("Пушкин", "Зимнее утро", 1829, "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный"),
    ("Пушкин", "Пророк", 1826, "Духовной жаждою томим, в пустыне мрачной я влачился"),
    ("Лермонтов", "Парус", 1832, "Белеет парус одинокий в тумане моря голубом"),
    ("Блок", "Незнакомка", 1906, "По вечерам над ресторанами горячий воздух дик и глух"),
    ("Блок", "Ночь, улица", 1912, "Ночь, улица, фонарь, аптека, бессмысленный и тусклый свет"),
]


@pytest.fixture(scope="module")
def embedder(tiny_embedder_dir):
    return Embedder(tiny_embedder_dir, "tiny")


@pytest.fixture
def store(tmp_path, embedder):
    store = IndexStore.open(tmp_path / "idx", create=True)
    store.check_embedder(embedder.name, embedder.dim)
    for n, (author, title, year, text) in enumerate(POEMS):
        path = f"/corpus/{author}/{n}.txt"
        doc = DocumentChunks(part=0, title=title, author=author, year=year,
                             spans=[(0, len(text), text)],
                             vectors=embedder.embed_passages([text]), kind="poem")
        store.replace_file(FileState(path, 1, 0.0, str(n)), [doc])
    return store


def test_lexical_matches_inflected_forms(store, embedder):
    hits = Searcher(store, embedder).search("парусом одиноким", k=3,
                                            options=SearchOptions(mode="lexical"))
    assert hits[0].title == "Парус" and hits[0].lexical_score > 0
    assert len(hits) == 1  # nothing else shares a stem


def test_stopwords_only_query_finds_nothing_lexically(store):
    assert store.search_lexical("и в на", 5) == []


def test_fts_syntax_in_query_is_literal(store):
    assert store.search_lexical('парус" OR "NEAR(', 5)[0][0] > 0


def test_hybrid_contains_both_signals(store, embedder):
    text = POEMS[4][3]
    hits = Searcher(store, embedder).search(text, k=5)
    assert hits[0].title == "Ночь, улица"
    assert hits[0].dense_score is not None and hits[0].lexical_score is not None
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


@pytest.mark.parametrize("filters,titles", [
    (Filters(author="блок"), {"Незнакомка", "Ночь, улица"}),
    (Filters(author="ПУШКИН", year_to=1827), {"Пророк"}),
    (Filters(year_from=1830, year_to=1910), {"Парус", "Незнакомка"}),
    (Filters(path="/corpus/Лермонтов/*"), {"Парус"}),
    (Filters(title="утро"), {"Зимнее утро"}),
    (Filters(author="Толстой"), set()),
])
@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_filters_apply_in_every_mode(store, embedder, filters, titles, mode):
    query = "ночь мороз парус пустыня ресторан утро улица"
    hits = Searcher(store, embedder).search(query, k=10,
                                            options=SearchOptions(mode=mode, filters=filters))
    found = {h.title for h in hits}
    assert found <= titles
    if mode != "lexical":
        assert found == titles  # dense ranks everything that passes the filter


def test_rrf_rewards_agreement():
    fused = rrf([[(1, 0.9), (2, 0.8), (3, 0.1)], [(3, 5.0), (1, 4.0)]])
    assert [cid for cid, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_mmr_skips_near_duplicates(tmp_path, embedder):
    store = IndexStore.open(tmp_path / "dup", create=True)
    store.check_embedder(embedder.name, embedder.dim)
    basis = np.eye(embedder.dim, dtype=np.float32)
    vectors = [basis[0], basis[0], 0.8 * basis[0] + 0.6 * basis[1]]  # a duplicate, a different one
    for n, vector in enumerate(vectors):
        store.replace_file(FileState(f"/d/{n}", 1, 0.0, str(n)), [DocumentChunks(
            0, f"t{n}", "", None, [(0, 4, "text")], vector[None, :])])
    ranked = [(cid, 1.0) for cid, _ in store.search_dense(basis[:1], 3)[0]]
    assert mmr(ranked, basis[0], store, weight=1.0, k=2) == ranked[:2]  # pure relevance
    diverse = [store.chunks([cid])[0].title for cid, _ in mmr(ranked, basis[0], store, 0.3, 2)]
    assert sorted(diverse) in (["t0", "t2"], ["t1", "t2"])


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_a_passage_saved_twice_is_found_once(store, embedder, mode):
    text = "Белеет парус одинокий в тумане моря голубом"  # POEMS' «Парус», again as a copy
    for n in range(2):  # two copies, one with its lines broken otherwise
        copy = text if n == 0 else text.replace(" в тумане", "\nв  тумане")
        store.replace_file(FileState(f"/copies/{n}.txt", 1, 0.0, f"c{n}"), [DocumentChunks(
            0, "Парус", "Лермонтов", 1832, [(0, len(copy), copy)],
            embedder.embed_passages([copy]), kind="poem")])
    hits = Searcher(store, embedder).search("парус в тумане моря", 4, SearchOptions(mode=mode))
    texts = [" ".join(h.text.split()) for h in hits]
    assert texts.count(text) == 1 and len(set(texts)) == len(texts)
    assert len(hits) == (1 if mode == "lexical" else 4)  # k different texts where there are
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


def test_unknown_mode_is_refused(store, embedder):
    with pytest.raises(StoreError, match="unknown search mode"):
        Searcher(store, embedder).search("x", options=SearchOptions(mode="magic"))


def test_authors_counts(store):
    assert store.authors() == [("Блок", 2), ("Пушкин", 2), ("Лермонтов", 1)]
    assert store.authors(kind="text") == []


def test_removing_a_file_removes_its_terms(store):
    assert store.search_lexical("парус", 5)
    store.remove_file("/corpus/Лермонтов/2.txt")
    assert store.search_lexical("парус", 5) == []
    assert np.asarray(store.allowed_ids(Filters(author="Лермонтов"))).size == 0


def test_ivf_index_supports_filters_and_removal(monkeypatch):
    from index import vectors

    rng = np.random.default_rng(0)
    data = rng.normal(size=(2000, 16)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    ids = np.arange(10, 2010, dtype=np.int64)
    monkeypatch.setattr(vectors, "IVF_THRESHOLD", 1000)
    built = vectors.FaissIndex.build(16, [(ids, data)], len(data))
    assert built.kind == "ivf"
    assert built.index.nprobe == int(built.index.nlist * vectors.IVF_PROBE_SHARE)
    top = built.search(data[:1], 5)[0]
    assert top[0][0] == 10  # a vector finds itself
    assert {i for i, _ in built.search(data[:1], 5, allowed=np.array([500, 600]))[0]} <= {500, 600}
    built.remove(np.array([10]))
    assert built.size == 1999 and built.search(data[:1], 1)[0][0][0] != 10
