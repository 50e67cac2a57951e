"""Zip bombs and lying ZIP headers in .docx, .epub and .fb2.zip: skipped by a running count of
the bytes that come out, within bounded memory, and never at the cost of what is indexed.

Every bomb is written here by streaming a compressible member through zipfile, so it is a few
dozen KB on disk and 50 MB unpacked; the tests set max_file_mb to 2 MB.
"""

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from index.archives import read_member, repack
from index.embeddings import Embedder
from index.ingest import IngestOptions, index_path
from index.readers import Skip, parse_documents
from index.store import IndexStore
from tests.test_formats import make_docx, make_epub, make_fb2

LIMIT = 2 * 2**20
BOMB = 50 * 2**20
PARAGRAPH = "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный."
FB2_HEAD = ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0"><body><section>')
FB2_TAIL = "</section></body></FictionBook>"


def _stream(archive: zipfile.ZipFile, name: str, head: str, line: str, tail: str, size: int) -> None:
    """Write member ``name``: head, ``line`` repeated to about ``size`` bytes, tail; never whole in memory."""
    block = line.encode() * max(1, 2**20 // len(line.encode()))
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w") as member:
        member.write(head.encode())
        written = 0
        while written < size:
            member.write(block)
            written += len(block)
        member.write(tail.encode())


def _bomb_from(good: bytes, member: str, path: Path, split: str, line: str) -> Path:
    """A copy of the good archive whose ``member`` is rewritten to BOMB bytes of ``line``."""
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            if info.filename != member:
                out.writestr(info.filename, source.read(info))
                continue
            text = source.read(info).decode()
            head, tail = text.split(split, 1)
            _stream(out, member, head + split, line, tail, BOMB)
    assert path.stat().st_size < 1 * 2**20  # small on disk
    return path


def bomb_docx(path: Path) -> Path:
    template = make_docx(path.with_name("template.docx"))
    good = template.read_bytes()
    template.unlink()
    return _bomb_from(good, "word/document.xml", path, "<w:body>",
                      f"<w:p><w:r><w:t>{PARAGRAPH}</w:t></w:r></w:p>")


def bomb_epub(path: Path) -> Path:
    template = make_epub(path.with_name("template.epub"))
    good = template.read_bytes()
    template.unlink()
    member = next(n for n in zipfile.ZipFile(io.BytesIO(good)).namelist() if n.endswith("ch1.xhtml"))
    return _bomb_from(good, member, path, "<body>", f"<p>{PARAGRAPH}</p>")


def bomb_fb2_zip(path: Path, size: int = BOMB) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        _stream(archive, "book.fb2", FB2_HEAD, f"<p>{PARAGRAPH}</p>", FB2_TAIL, size)
    return path


def lie_about_size(path: Path, claimed: int, crc_of_prefix: bool = False, member: str = "book.fb2") -> Path:
    """Patch ``member``'s size in its local header and central directory entry to ``claimed``;
    with ``crc_of_prefix`` its CRC too, to the CRC of the first ``claimed`` bytes it inflates to."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo(member)
        with archive.open(info) as stream:
            crc = zlib.crc32(stream.read(claimed)) if crc_of_prefix else info.CRC
    local = info.header_offset
    central = data.index(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(member.encode())] != member.encode():
        central = data.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", data, local + 14, crc)
    struct.pack_into("<I", data, local + 22, claimed)
    struct.pack_into("<I", data, central + 16, crc)
    struct.pack_into("<I", data, central + 24, claimed)
    path.write_bytes(bytes(data))
    assert zipfile.ZipFile(path).getinfo(member).file_size == claimed
    return path


@pytest.fixture(scope="module")
def embedder(tiny_embedder_dir):
    return Embedder(tiny_embedder_dir, "tiny")


BOMBS = {"bomb.docx": bomb_docx, "bomb.epub": bomb_epub, "bomb.fb2.zip": bomb_fb2_zip}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_bomb_is_skipped_by_the_count_and_names_the_limit(tmp_path, name):
    path = BOMBS[name](tmp_path / name)
    with pytest.raises(Skip, match=r"unpacks to more than 2 MB .*raise max_file_mb"):
        parse_documents(path, path.read_bytes(), max_bytes=LIMIT)


def test_bombs_are_skipped_and_the_rest_indexed_and_kept(tmp_path, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    make_docx(folder / "report.docx")
    (folder / "notes.txt").write_text("Москва — столица России.", encoding="utf-8")
    store = IndexStore.open(tmp_path / "index", create=True)
    options = IngestOptions(max_file_bytes=LIMIT)
    first = index_path(folder, store, embedder, options)
    assert (first.added, first.skipped) == (2, [])
    before = store.files()[str(folder / "report.docx")]

    bomb_docx(folder / "report.docx")  # the indexed file turns into a bomb
    bomb_epub(folder / "bomb.epub")
    bomb_fb2_zip(folder / "bomb.fb2.zip")
    big = (FB2_HEAD + f"<p>{PARAGRAPH}</p>" * (3 * 2**20 // len(PARAGRAPH)) + FB2_TAIL).encode()
    (folder / "big.fb2").write_bytes(big)  # the same book, plain and zipped: both over max_file_mb
    with zipfile.ZipFile(folder / "big.fb2.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.fb2", big)
    make_epub(folder / "good.epub")
    with zipfile.ZipFile(folder / "good.fb2.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("good.fb2", make_fb2())

    report = index_path(folder, store, embedder, options)
    reasons = {Path(s["path"]).name: s["reason"] for s in report.skipped}
    assert set(reasons) == {"report.docx", "bomb.epub", "bomb.fb2.zip", "big.fb2", "big.fb2.zip"}
    for name in ("report.docx", "bomb.epub", "bomb.fb2.zip", "big.fb2.zip"):
        assert "unpacks to more than 2 MB" in reasons[name] and "max_file_mb" in reasons[name]
    assert "size limit" in reasons["big.fb2"]
    assert report.added == 2  # good.epub, good.fb2.zip
    files = store.files()
    assert {Path(p).name for p in files} == {"report.docx", "notes.txt", "good.epub", "good.fb2.zip"}
    assert files[str(folder / "report.docx")].sha256 == before.sha256  # the old version survives


def test_a_header_that_claims_a_huge_size_is_not_trusted_either(tmp_path):
    path = bomb_fb2_zip(tmp_path / "small.fb2.zip", size=1000)
    lie_about_size(path, 3 * 2**30)  # claims 3 GB; the stream is honest and small
    [doc] = parse_documents(path, path.read_bytes(), max_bytes=LIMIT)
    assert PARAGRAPH in doc.text


def test_the_bounded_readers_directly(tmp_path):
    path = bomb_fb2_zip(tmp_path / "b.fb2.zip")
    with zipfile.ZipFile(path) as archive:
        with pytest.raises(Skip, match="more than 2 MB .at 'book.fb2'"):
            read_member(archive, archive.getinfo("book.fb2"), LIMIT)
        assert len(read_member(archive, archive.getinfo("book.fb2"), 2 * BOMB)) > BOMB
    good = make_docx(tmp_path / "good.docx").read_bytes()
    copy = repack(good, LIMIT)
    with zipfile.ZipFile(io.BytesIO(good)) as a, zipfile.ZipFile(io.BytesIO(copy)) as b:
        assert [(i.filename, a.read(i)) for i in a.infolist()] == [(i.filename, b.read(i)) for i in b.infolist()]
        assert {i.compress_type for i in b.infolist()} == {zipfile.ZIP_STORED}
    with pytest.raises(Skip, match=r"more than 0\.02 MB"):
        repack(good, 2**20 // 50)


# Parses each file in a child whose address space is capped at 1 GB and prints, per file, the
# reason it was skipped (or the length of the text read), and how far the peak RSS grew while
# parsing it (kB).
# The peak is the child's own (VmHWM, reset per file through clear_refs; see tests/child_memory.py):
# ru_maxrss would also count the parent's pages the child was forked with.
CHILD = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))
from index.readers import Skip, parse_documents
from tests.child_memory import peak_kb, reset_peak
import bs4, docx, ebooklib.epub, lxml.etree  # imported before the baseline is taken
limit, out = int(sys.argv[1]), {}
for name in sys.argv[2:]:
    path = Path(name)
    data = path.read_bytes()
    base = reset_peak()  # the peak starts again from here
    try:
        reason = sum(len(d.text) for d in parse_documents(path, data, max_bytes=limit))
    except Skip as why:
        reason = str(why)
    out[path.name] = [reason, peak_kb() - base]
print(json.dumps(out))
"""


def test_bombs_and_lies_are_read_in_bounded_memory(tmp_path):
    paths = [bomb_docx(tmp_path / "bomb.docx"), bomb_epub(tmp_path / "bomb.epub"),
             bomb_fb2_zip(tmp_path / "bomb.fb2.zip"),
             # claims 1 KB, inflates to 50 MB: zipfile stops at the claim and the CRC fails
             lie_about_size(bomb_fb2_zip(tmp_path / "crc.fb2.zip"), 1024),
             # the same with the CRC of those 1 KB: read as 1 KB of (broken) XML
             lie_about_size(bomb_fb2_zip(tmp_path / "prefix.fb2.zip"), 1024, crc_of_prefix=True),
             # claims 3 MB: the running count stops it at 2 MB
             lie_about_size(bomb_fb2_zip(tmp_path / "count.fb2.zip"), 3 * 2**20)]
    # an EPUB whose chapter claims 1 KB with the CRC of its first 1 KB: ebooklib alone would
    # inflate all 50 MB in one call; it gets the counted copy and reads a cut-off chapter
    epub = bomb_epub(tmp_path / "lying.epub")
    chapter = next(n for n in zipfile.ZipFile(epub).namelist() if n.endswith("ch1.xhtml"))
    paths.append(lie_about_size(epub, 1024, crc_of_prefix=True, member=chapter))

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run([sys.executable, "-c", CHILD, str(LIMIT)] + [str(p) for p in paths],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    for name, (_, grown_kb) in results.items():
        assert grown_kb < 30 * 1024, (name, grown_kb)  # a 50 MB member never comes out whole
    for name in ("bomb.docx", "bomb.epub", "bomb.fb2.zip", "count.fb2.zip"):
        assert "unpacks to more than 2 MB" in results[name][0]
    assert "Bad CRC" in results["crc.fb2.zip"][0]
    assert "broken FB2" in results["prefix.fb2.zip"][0]
    assert results["lying.epub"][0] < 10_000  # the text of 1 KB of chapter 1 and of chapter 2
