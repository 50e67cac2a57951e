"""Hostile and broken input around the index on disk: file names that are not UTF-8,
a catalog with damaged pages, a FAISS cache whose header lies about its size."""

import json
import os
import sqlite3
import struct
import subprocess
import sys

import pytest

from assistant.cli import main
from index.embeddings import Embedder
from index.errors import StoreError
from index.ingest import index_path
from index.paths import printable, real_path, stored_path
from index.store import IndexStore
from tests.conftest import REPO, one_line_error

KOI8_NAME = b"\xff\xfe-koi8.txt"  # not UTF-8: what an old KOI8-R or cp1251 disk leaves


@pytest.fixture
def run(capsys, tiny_embedder_dir, lira_home):
    """Run `lira` in-process with the tiny embedder; returns (exit code, stdout, stderr)."""

    def _run(*args):
        code = main(["--embedder", str(tiny_embedder_dir)] + [str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def koi8_docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "moscow.txt").write_text("Москва — столица России.", encoding="utf-8")
    with open(os.path.join(os.fsencode(folder), KOI8_NAME), "wb") as f:
        f.write("Кошка спит на диване, а собака гуляет во дворе.".encode())
    return folder


@pytest.mark.parametrize("raw", [b"/a/\xff\xfe-koi8.txt", b"/a/b\\xff.txt", b"/a/\xd0\xbf.txt",
                                 b"/a/x\\\\y\xff", b"/plain/name.txt"])
def test_stored_paths_are_printable_and_reversible(raw):
    path = os.fsdecode(raw)
    stored = stored_path(path)
    stored.encode("utf-8")  # SQLite, JSON and a terminal take it
    assert real_path(stored) == path
    assert stored_path(os.fsdecode(b"/a/\xff")) != stored_path("/a/\\xff")  # no collision
    assert printable(os.fsdecode(b"\xff-x")) == "\\xff-x"


def test_a_name_that_is_not_utf8_is_indexed_shown_and_removed(run, koi8_docs):
    code, out, err = run("index", koi8_docs, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["added"], report["skipped"]) == (2, [])

    code, out, err = run("index", koi8_docs, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["added"], report["updated"], report["unchanged"]) == (0, 0, 2)

    shown = "\\xff\\xfe-koi8.txt"
    code, out, err = run("search", "Кошка спит на диване, а собака гуляет во дворе.", "--json")
    assert code == 0, err
    paths = [hit["path"] for hit in json.loads(out)["results"]]
    assert any(p.endswith("/" + shown) for p in paths), paths
    assert real_path(next(p for p in paths if p.endswith(shown))) == os.fsdecode(
        os.path.join(os.fsencode(koi8_docs), KOI8_NAME))
    code, out, err = run("search", "Кошка спит на диване, а собака гуляет во дворе.")
    assert code == 0 and shown in out, err

    os.unlink(os.path.join(os.fsencode(koi8_docs), KOI8_NAME))
    code, out, err = run("index", koi8_docs, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["removed"], report["unchanged"]) == (1, 1)
    code, out, err = run("search", "Кошка спит на диване, а собака гуляет во дворе.", "--json")
    assert [h["path"] for h in json.loads(out)["results"]] == [str(koi8_docs / "moscow.txt")]


def _damage_pages(catalog, first_page=3):
    """Overwrite every page from ``first_page`` on, leaving the header page intact."""
    data = bytearray(catalog.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    start = (first_page - 1) * page
    assert len(data) > start, "the catalog is too small to damage"
    data[start:] = bytes([0xA5]) * (len(data) - start)
    catalog.write_bytes(bytes(data))


def test_a_catalog_with_damaged_pages_is_a_one_line_error(run, docs, lira_home):
    code, _, err = run("index", docs, "--name", "x")
    assert code == 0, err
    catalog = next(lira_home.rglob("catalog.sqlite"))
    assert not catalog.with_name("catalog.sqlite-wal").exists() or \
        catalog.with_name("catalog.sqlite-wal").stat().st_size == 0
    _damage_pages(catalog)
    for args in (("search", "Москва", "--name", "x"), ("index", docs, "--name", "x")):
        code, _, err = run(*args)
        line = one_line_error(code, err)
        assert code == 1
        assert "index 'x' is damaged" in line and "catalog.sqlite" in line, line
        assert f"delete {catalog.parent}" in line and "--name x" in line, line


def test_every_sqlite_error_of_the_store_is_a_store_error(tmp_path, docs, tiny_embedder_dir):
    folder = tmp_path / "index"
    store = IndexStore.open(folder, create=True)
    index_path(docs, store, Embedder(tiny_embedder_dir, "tiny"))
    store.close()
    _damage_pages(folder / "catalog.sqlite")
    store = IndexStore.open(folder)  # the header still reads
    for read in (store.files, store.chunk_count, lambda: store.chunks(range(1, 9)),
                 lambda: store.search_lexical("Москва", 3), store.authors):
        with pytest.raises(StoreError, match="is damaged .*rebuild it"):
            read()


# The child's own peak: VmHWM belongs to its address space; ru_maxrss would also count the
# parent's pages it was forked with (a whole test run's pytest process, gigabytes by then).
CHILD = """
import re, sys
from pathlib import Path
import numpy as np
from index.store import IndexStore
store = IndexStore.open(Path(sys.argv[1]))
hits = store.search_dense(np.ones((1, store.dim), dtype=np.float32), 3)
peak = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)
print(len(hits[0]), store.chunk_count(), peak)
"""


def test_a_faiss_header_claiming_huge_sizes_is_rebuilt_without_allocating(
        tmp_path, docs, tiny_embedder_dir):
    folder = tmp_path / "index"
    store = IndexStore.open(folder, create=True)
    index_path(docs, store, Embedder(tiny_embedder_dir, "tiny"))
    store.close()
    (cache,) = folder.glob("vectors.*.faiss")
    data = bytearray(cache.read_bytes())
    assert data[37:41] == b"IxFI"  # IndexIDMap2 header (37 bytes), then the flat index
    data[74:82] = struct.pack("<Q", 2**30)  # its code count: 4 GiB of floats
    cache.write_bytes(bytes(data))
    child = subprocess.run([sys.executable, "-c", CHILD, str(folder)], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    found, chunks, max_rss_kib = map(int, child.stdout.split())
    assert found == min(3, chunks) > 0
    assert max_rss_kib < 1024 * 1024, f"{max_rss_kib} KiB"


def test_real_sqlite_errors_are_told_apart(tmp_path):
    from index.sqlite_errors import ACCESS, BUSY, DAMAGED, sqlite_problem

    def error_of(action):
        with pytest.raises(sqlite3.Error) as caught:
            action()
        return sqlite_problem(caught.value)

    db = tmp_path / "a.sqlite"
    first = sqlite3.connect(db, isolation_level=None)
    first.execute("CREATE TABLE t (x)")
    first.execute("BEGIN EXCLUSIVE")
    second = sqlite3.connect(db, timeout=0)
    assert error_of(lambda: second.execute("SELECT * FROM t").fetchall()) == BUSY
    first.execute("ROLLBACK")
    read_only = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert error_of(lambda: read_only.execute("INSERT INTO t VALUES (1)")) == ACCESS
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all " * 100)
    assert error_of(lambda: sqlite3.connect(junk).execute("SELECT 1 FROM t")) == DAMAGED
    # an error made without a code (by Lira's own checks) is read by its words
    assert sqlite_problem(sqlite3.OperationalError("database or disk is full")) == "full"
