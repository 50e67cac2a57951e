"""Limits that hold by construction: text that is too long, on one line or with control
characters, PDFs whose streams are bombs, ZIPs of countless members, and large files that
commit as they go and resume where an interrupted run stopped.
"""

import io
import json
import os
import re
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from index.archives import MAX_MEMBERS
from index.embeddings import Embedder
from index.ingest import IngestOptions, index_path
from index.readers import Skip, parse_documents
from index.store import IndexStore
from tests.test_formats import make_docx, pdf_file

LINE = "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный. "


@pytest.fixture(scope="module")
def embedder(tiny_embedder_dir):
    return Embedder(tiny_embedder_dir, "tiny")


def _stored(store: IndexStore, path: Path) -> list[tuple[int, int, int, str]]:
    """(part, start, end, text) of every stored chunk of ``path``, in order."""
    rows = store.conn.execute('SELECT d.part, c.start, c."end", c.text FROM chunks c '
                              "JOIN documents d ON c.doc_id = d.id WHERE d.path = ? "
                              "ORDER BY d.part, c.ord", (str(path),))
    return [tuple(r) for r in rows]


# ----- control characters and entities -----------------------------------------------
def test_nul_and_escapes_anywhere_in_a_text_never_reach_the_chunks(tmp_path, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    head = LINE * (9000 // len(LINE))  # past the 8 KB that are sniffed for binary content
    (folder / "late-nul.txt").write_text(head + "Буря\x00\x00мглою \x1b[31mнебо\x07 кроет\x0cВихри",
                                         encoding="utf-8")
    store = IndexStore.open(tmp_path / "index", create=True)
    report = index_path(folder, store, embedder, IngestOptions(chunk_tokens=64, chunk_overlap=8))
    assert report.added == 1 and not report.skipped
    texts = [t for *_, t in _stored(store, folder / "late-nul.txt")]
    assert not any(c in t for t in texts for c in "\x00\x1b\x07\x0c")
    assert "Бурямглою [31mнебо кроет\nВихри" in re.sub(" +", " ", "".join(texts))  # words kept apart


def test_text_after_an_entity_in_a_docx_paragraph_is_kept(tmp_path):
    good = make_docx(tmp_path / "good.docx").read_bytes()
    path = tmp_path / "entity.docx"
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(path, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":  # a DOCTYPE Word never writes, declaring &x;
                data = data.replace(b"?>", b'?><!DOCTYPE w:document [<!ENTITY x "expanded">'
                                    b'<!ENTITY nbsp "&#160;">]>', 1)
                data = data.replace("Поездка в Тверь".encode(),
                                    "Поездка &x;в&nbsp;Тверь &amp; обратно".encode(), 1)
            out.writestr(info, data)
    [doc] = parse_documents(path, path.read_bytes())
    assert "Поездка в\xa0Тверь & обратно" in doc.text  # nothing after &x; is lost
    assert "expanded" not in doc.text  # a declared entity is not expanded (no billion laughs)


# ----- text that is too long ------------------------------------------------------------
def test_text_past_max_text_chars_is_cut_at_a_line_and_reported(tmp_path, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "long.txt").write_text("\n".join(f"{n} {LINE}" for n in range(200)), encoding="utf-8")
    store = IndexStore.open(tmp_path / "index", create=True)
    report = index_path(folder, store, embedder, IngestOptions(max_text_chars=3000))
    [note] = report.truncated
    assert note["path"] == str(folder / "long.txt") and "max_text_chars (3,000)" in note["reason"]
    chunks = _stored(store, folder / "long.txt")
    last_end = max(end for _, _, end, _ in chunks)
    assert 1500 <= last_end <= 3000
    assert chunks[-1][3].endswith(LINE.strip())  # cut at the end of a line, not inside a word


# Chunks a single line of MB megabytes (no sentence ends, no newlines) in a child and prints
# the growth of its peak RSS in kB. Before the chunker cut long units before the tokenizer,
# 8 MB on one line peaked at 773 MB here (49 MB at 5.5 GB).
CHUNK_CHILD = """
import json, sys
from tests.child_memory import peak_kb, reset_peak
from index.embeddings import Embedder
from index.chunking import chunk_text
embedder = Embedder(sys.argv[1], "tiny")
words = "мороз и солнце день чудесный ещё ты дремлешь друг прелестный "
text = words * int(float(sys.argv[2]) * 2**20 / len(words.encode()))
base = reset_peak()
chunks = chunk_text(text, embedder.count_tokens, 200, 40)
assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())
print(json.dumps([len(chunks), peak_kb() - base]))
"""


def test_a_long_single_line_is_chunked_in_bounded_memory(tiny_embedder_dir):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run([sys.executable, "-c", CHUNK_CHILD, str(tiny_embedder_dir), "8"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    chunks, grown_kb = json.loads(done.stdout)
    assert chunks > 3000
    assert grown_kb < 200 * 1024, grown_kb


# ----- PDF streams ---------------------------------------------------------------------
def make_pdf(path: Path, content: bytes | None = None, inflated: int = 0) -> Path:
    """A one-page PDF whose page content is ``content`` Flate-compressed, or (with
    ``inflated``) a stream that inflates to that many bytes of zeros, written in pieces."""
    if content is not None:
        stream = zlib.compress(content)
    else:
        packer, parts, block = zlib.compressobj(9), [], bytes(2**20)
        for _ in range(inflated // len(block)):
            parts.append(packer.compress(block))
        stream = b"".join(parts) + packer.flush()
    path.write_bytes(pdf_file([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]))
    return path


def test_a_pdf_within_the_limits_is_read(tmp_path):
    path = make_pdf(tmp_path / "ok.pdf", b"BT /F1 12 Tf 72 700 Td (Hello PDF world) Tj ET")
    [doc] = parse_documents(path, path.read_bytes(), max_bytes=2**20)
    assert "Hello PDF world" in doc.text


PDF_CHILD = """
import json, sys
from pathlib import Path
from tests.child_memory import peak_kb, reset_peak
from index.readers import Skip, parse_documents
import pypdf
path = Path(sys.argv[1])
data = path.read_bytes()
base = reset_peak()
try:
    result = sum(len(d.text) for d in parse_documents(path, data, max_bytes=2 * 2**20))
except Skip as why:
    result = str(why)
print(json.dumps([result, peak_kb() - base]))
"""


def test_a_pdf_stream_bomb_is_skipped_in_bounded_memory(tmp_path):
    path = make_pdf(tmp_path / "bomb.pdf", inflated=300 * 2**20)
    assert path.stat().st_size < 2**20  # 300 MB of zeros, in ~300 KB
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run([sys.executable, "-c", PDF_CHILD, str(path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result, grown_kb = json.loads(done.stdout)
    assert "unpacks past a limit" in result and "max_file_mb" in result
    assert grown_kb < 100 * 1024, grown_kb


# ----- ZIPs of countless members -------------------------------------------------------
def test_a_zip_of_too_many_members_is_skipped_before_it_is_listed(tmp_path):
    many = tmp_path / "many.epub"
    with zipfile.ZipFile(many, "w") as archive:
        for n in range(MAX_MEMBERS + 1):
            archive.writestr(f"{n:x}", b"")
    with pytest.raises(Skip, match="more than 10,000 members"):
        parse_documents(many, many.read_bytes())
    long_names = tmp_path / "names.docx"  # few members, but a central directory of 5 MB
    with zipfile.ZipFile(long_names, "w") as archive:
        for n in range(1000):
            archive.writestr(f"{n:05d}" + "x" * 5000, b"")
    with pytest.raises(Skip, match="a ZIP directory of more than 4 MB"):
        parse_documents(long_names, long_names.read_bytes())
    fb2 = tmp_path / "many.fb2.zip"
    fb2.write_bytes(many.read_bytes())
    with pytest.raises(Skip, match="more than 10,000 members"):
        parse_documents(fb2, fb2.read_bytes())


# ----- large files commit as they go ---------------------------------------------------
class Interrupting:
    """The embedder, counting the passages it embeds, interrupted (as by Ctrl+C) on call
    number ``stop_at``."""

    def __init__(self, embedder: Embedder, stop_at: int | None = None):
        self.inner, self.stop_at, self.calls, self.passages = embedder, stop_at, 0, 0
        self.name, self.dim, self.count_tokens = embedder.name, embedder.dim, embedder.count_tokens

    def embed_passages(self, texts):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        self.passages += len(texts)
        return self.inner.embed_passages(texts)


@pytest.fixture
def big_folder(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "big.txt").write_text("\n".join(f"{n} {LINE}" for n in range(120)), encoding="utf-8")
    (folder / "small.txt").write_text("Москва — столица России.", encoding="utf-8")
    return folder


OPTIONS = IngestOptions(chunk_tokens=32, chunk_overlap=0, batch_chunks=10)


def test_a_large_file_is_embedded_and_committed_a_batch_at_a_time(tmp_path, big_folder, embedder):
    store = IndexStore.open(tmp_path / "index", create=True)
    counting, ticks = Interrupting(embedder), []
    report = index_path(big_folder, store, counting, OPTIONS, lambda *t: ticks.append(t))
    total = len(_stored(store, big_folder / "big.txt"))
    assert total > 3 * OPTIONS.batch_chunks
    assert counting.calls >= -(-total // OPTIONS.batch_chunks)  # no call embeds the whole file
    assert report.chunks == total + 1 and report.added == 2
    in_file = [chunks for done, _, chunks in ticks if done == 0]  # big.txt comes first
    assert len(in_file) >= 3 and in_file == sorted(in_file) and in_file[0] < in_file[-1]
    assert not store.files()[str(big_folder / "big.txt")].partial


def test_an_interrupted_large_file_keeps_its_batches_and_resumes(tmp_path, big_folder, embedder):
    whole = IndexStore.open(tmp_path / "whole", create=True)
    index_path(big_folder, whole, embedder, OPTIONS)
    expected = _stored(whole, big_folder / "big.txt")

    store = IndexStore.open(tmp_path / "index", create=True)
    with pytest.raises(KeyboardInterrupt):
        index_path(big_folder, store, Interrupting(embedder, stop_at=3), OPTIONS)
    state = store.files()[str(big_folder / "big.txt")]
    assert state.partial
    kept = _stored(store, big_folder / "big.txt")
    assert kept == expected[:2 * OPTIONS.batch_chunks]  # two batches committed before Ctrl+C

    resumed = Interrupting(embedder)
    report = index_path(big_folder, store, resumed, OPTIONS)
    assert _stored(store, big_folder / "big.txt") == expected
    assert resumed.passages == len(expected) - len(kept) + 1  # the rest of big.txt, and small.txt
    assert not store.files()[str(big_folder / "big.txt")].partial
    assert (report.added, report.updated) == (1, 1)
    assert index_path(big_folder, store, embedder, OPTIONS).unchanged == 2


def test_a_resume_under_other_chunk_settings_starts_the_file_over(tmp_path, big_folder, embedder):
    store = IndexStore.open(tmp_path / "index", create=True)
    with pytest.raises(KeyboardInterrupt):
        index_path(big_folder, store, Interrupting(embedder, stop_at=2), OPTIONS)
    other = IngestOptions(chunk_tokens=48, chunk_overlap=0, batch_chunks=10)
    index_path(big_folder, store, embedder, other)
    fresh = IndexStore.open(tmp_path / "fresh", create=True)
    index_path(big_folder, fresh, embedder, other)
    assert _stored(store, big_folder / "big.txt") == _stored(fresh, big_folder / "big.txt")
    ids = [r[0] for r in store.conn.execute("SELECT id FROM chunks")]
    assert store.search_dense(embedder.embed_queries(["мороз"]), len(ids), None)[0]  # vectors agree
    assert store.chunk_count() == fresh.chunk_count()


def test_ctrl_c_in_lira_index_keeps_the_committed_batches_and_exits_cleanly(tmp_path, tiny_embedder_dir):
    import signal
    import time

    folder = tmp_path / "docs"
    folder.mkdir()
    # long enough that the polling below sees it half stored however fast the machine is
    (folder / "big.txt").write_text("\n".join(f"{n} {LINE}" for n in range(40_000)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIRA_")}
    env.update(LIRA_HOME=str(tmp_path / "home"), LIRA_EMBEDDER=str(tiny_embedder_dir),
               LIRA_CHUNK_TOKENS="16", LIRA_CHUNK_OVERLAP="0")
    command = [sys.executable, "-m", "assistant.cli", "index", str(folder)]
    # A child inherits an ignored or blocked SIGINT: pytest started in the background by a
    # shell without job control ignores it, and the Ctrl+C would never reach the child.  A
    # terminal's Ctrl+C reaches a process that neither ignores nor blocks it: so here too.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, preexec_fn=_ctrl_c_as_in_a_terminal)
    catalog = tmp_path / "home" / "indexes" / "default" / "catalog.sqlite"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if catalog.exists() and _partial_chunks(catalog) > 0:
            child.send_signal(signal.SIGINT)  # as Ctrl+C, while the file is half stored
            break
        time.sleep(0.2)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, f"SIGINT ignored in pytest: {ignored}; {err[-2000:]}"
    assert "lira: interrupted" in err and "terminate called" not in err and "Traceback" not in err
    kept = _partial_chunks(catalog)
    assert kept > 0  # the batches committed before Ctrl+C
    done = subprocess.run(command + ["--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["updated"] == 1 and report["chunks"] > 0
    assert _partial_chunks(catalog) == 0


def _ctrl_c_as_in_a_terminal() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def _partial_chunks(catalog: Path) -> int:
    """Chunks stored for files still marked partial (0 when there are none)."""
    import sqlite3

    with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=5) as db:
        try:
            return db.execute("SELECT count(*) FROM chunks c JOIN documents d ON c.doc_id = d.id "
                              "JOIN files f ON d.path = f.path WHERE f.sha256 LIKE 'partial:%'").fetchone()[0]
        except sqlite3.OperationalError:  # the schema is not written yet
            return 0
