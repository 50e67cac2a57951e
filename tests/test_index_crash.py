"""A real crash (SIGKILL) in the middle of indexing leaves a usable index."""

import os
import signal
import subprocess
import sys
import time

from index.embeddings import Embedder
from index.ingest import IngestOptions, index_path
from index.search import Searcher
from index.store import IndexStore
from tests.conftest import REPO

CHILD = """
import sys
from pathlib import Path
from index.embeddings import Embedder
from index.ingest import IngestOptions, index_path
from index.store import IndexStore
store = IndexStore.open(Path(sys.argv[1]), create=True)
embedder = Embedder(Path(sys.argv[3]), "tiny")
progress = lambda done, total, chunks: print(done, flush=True)
index_path(Path(sys.argv[2]), store, embedder, IngestOptions(batch_chunks=4), progress)
"""


def test_killed_run_keeps_committed_batches_and_the_next_run_finishes(tmp_path, tiny_embedder_dir):
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(300):
        (docs / f"{n:03d}.txt").write_text(f"Документ номер {n}. Кошка спит на диване.",
                                           encoding="utf-8")
    index_dir = tmp_path / "index"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(index_dir), str(docs),
                              str(tiny_embedder_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    for line in child.stdout:  # wait until several batches are committed
        if int(line) >= 40:
            break
    time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    store = IndexStore.open(index_dir)
    embedder = Embedder(tiny_embedder_dir, "tiny")
    partial = store.chunk_count()
    assert 0 < partial < 300
    hits = Searcher(store, embedder).search("Документ номер 5. Кошка спит на диване.", k=1)
    assert hits  # the half-built index answers queries
    report = index_path(docs, store, embedder, IngestOptions())
    assert report.added == 300 - partial and report.unchanged == partial
    assert store.chunk_count() == 300
