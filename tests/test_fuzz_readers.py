"""A fuzz pass over the document readers: seeded malformed inputs for every format.

Each format's valid seed (tests/fuzz_inputs.py) is truncated, bit-flipped, spliced with other
formats, replaced by random bytes, and, for the ZIP-based ones, given wrong-type, missing,
duplicated, re-compressed and damaged members. Every case must end in documents (text a str,
no NUL) or a one-line Skip; the run happens in a child process bounded in time and memory.
bench/fuzz_readers.py runs the same generator for longer.
"""

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from index.readers import Skip, parse_documents
from tests.fuzz_inputs import FORMATS, MAX_INPUT, make_case, seed
from tests.fuzz_runner import run_case, ruslit_folder

REPO = Path(__file__).resolve().parent.parent
SEED = 20261206
CASES = 800  # per format: under 1 s each on an idle core, 5-20 s in all
TIME_LIMIT = 180  # seconds for the whole child; a hang in any reader ends here
MEMORY_LIMIT_KB = 1024 * 1024  # the child's peak RSS (VmHWM) while a format runs


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_seed_is_a_valid_document(tmp_path, name):
    fmt = FORMATS[name]
    ruslit_folder(tmp_path)
    docs = parse_documents(tmp_path / fmt.filename, seed(name), layout=fmt.layout)
    assert docs and "Мороз и солнце" in docs[0].text and all(d.text.strip() for d in docs)


def test_cases_are_reproducible_and_small():
    for name in FORMATS:
        for index in (1, 7, 300):
            case = make_case(name, SEED, index)
            assert case == make_case(name, SEED, index)
            assert len(case.data) <= MAX_INPUT and case.mutation


def test_the_readers_survive_the_fuzz_in_bounded_time_and_memory(tmp_path):
    progress = tmp_path / "progress"
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "tests.fuzz_runner", "--seed", str(SEED), "--cases", str(CASES),
               "--progress", str(progress)]
    try:
        child = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=TIME_LIMIT)
    except subprocess.TimeoutExpired:
        case = progress.read_text() if progress.exists() else "(none started)"
        pytest.fail(f"the fuzz ran past {TIME_LIMIT} s; the case running then: {case}")
    assert child.returncode == 0, child.stderr[-3000:]
    summaries = json.loads(child.stdout)
    assert [s["format"] for s in summaries] == sorted(FORMATS)
    crashes = [f"{s['format']}: {case}\n    {error.strip().splitlines()[-1]}"
               for s in summaries for case, error in s["crashes"]]
    assert not crashes, "readers crashed (reproduce with tests.fuzz_inputs.make_case):\n" + "\n".join(crashes)
    for s in summaries:
        assert s["cases"] == CASES
        assert s["peak_kb"] < MEMORY_LIMIT_KB, (s["format"], s["peak_kb"])
        assert s["documents"] and s["skips"], s  # the fuzz reached both ends of every reader


# Regressions: what the fuzz found, fixed in the readers, kept here as plain inputs.

def test_a_charset_name_with_a_nul_falls_back_to_guessing(tmp_path):
    # make_case("html", 0, 88): a bit flip put a NUL into <meta charset>; decode() raised ValueError.
    # The guess that follows sees the NUL too and calls the page binary.
    page = '<meta charset="ut\x00f-8"><title>Т</title><p>Мороз и солнце</p>'.encode()
    with pytest.raises(Skip, match="binary file"):
        parse_documents(tmp_path / "page.html", page)
    page = '<meta charset="bogus-8"><title>Т</title><p>Мороз и солнце</p>'.encode()
    [doc] = parse_documents(tmp_path / "page.html", page)  # an unknown name: guessed, as before
    assert doc.text == "Мороз и солнце"


def _lzma_zip(member: str, data: bytes) -> bytes:
    """A ZIP whose one member is LZMA-compressed and then damaged in the middle (CRC kept)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(member, data, compress_type=zipfile.ZIP_LZMA)
    raw = bytearray(out.getvalue())
    start = 30 + len(member) + 20  # past the local header and LZMA's own properties header
    raw[start:start + 8] = b"\xff" * 8
    return bytes(raw)


@pytest.mark.parametrize("name", ["book.fb2.zip", "book.epub"])
def test_a_damaged_lzma_member_is_a_skip(tmp_path, name):
    # make_case("fb2.zip", 0, 402): zipfile lets lzma.LZMAError through, which is not an OSError
    data = _lzma_zip("book.fb2" if name.endswith(".zip") else "mimetype", seed("fb2") * 20)
    with pytest.raises(Skip, match=r"broken .*\(LZMAError"):
        parse_documents(tmp_path / name, data)


def test_a_case_runs_alone_as_it_ran_in_the_fuzz(tmp_path):
    ruslit_folder(tmp_path)
    result = run_case(make_case("html", 0, 88), tmp_path)
    assert result == {"outcome": "skip", "reason": "binary file"}


def test_utf8_with_a_damaged_byte_is_read_not_skipped(tmp_path):
    # One flipped bit in a Russian UTF-8 text had it skipped as "undecodable bytes" 4 times in 10:
    # the detectors saw neither UTF-8 nor a Russian code page. It is read, with U+FFFD in its place.
    data = bytearray(seed("txt") * 30)
    data[1000] ^= 0x40  # a continuation byte (10xxxxxx) becomes a lead byte: invalid UTF-8
    with pytest.raises(UnicodeDecodeError):
        bytes(data).decode("utf-8")
    [doc] = parse_documents(tmp_path / "notes.txt", bytes(data))
    assert "\ufffd" in doc.text and doc.text.count("Мороз и солнце") >= 29
    cp1251 = ("Мороз и солнце; день чудесный! " * 5).encode("cp1251")
    [doc] = parse_documents(tmp_path / "old.txt", cp1251)  # a code page is still told apart
    assert doc.text.startswith("Мороз и солнце")
