"""Reading files: encodings, binaries, limits."""

import codecs

import pytest

from index.readers import (
    Skip,
    check_supported,
    decode_text,
    parse_documents,
    read_bytes,
)

TEXT = "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный."


@pytest.mark.parametrize("data", [
    TEXT.encode("utf-8"),
    codecs.BOM_UTF8 + TEXT.encode("utf-8"),
    codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
    codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
    TEXT.encode("cp1251"),
    TEXT.encode("koi8-r"),
])
def test_russian_encodings_are_detected(data):
    assert decode_text(data) == TEXT


def test_binary_is_skipped():
    with pytest.raises(Skip, match="binary"):
        decode_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


def test_unsupported_suffix_and_limits(tmp_path):
    with pytest.raises(Skip, match="unsupported"):
        check_supported(tmp_path / "x.exe")
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 2048)
    with pytest.raises(Skip, match="size limit"):
        read_bytes(big, max_bytes=1024)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(Skip, match="empty"):
        read_bytes(empty, max_bytes=1024)
    with pytest.raises(Skip, match="vanished"):
        read_bytes(tmp_path / "gone.txt", max_bytes=1024)


def test_markdown_title_and_text_title(tmp_path):
    md = parse_documents(tmp_path / "note.md", "Вступление\n# Заголовок\nтекст".encode())
    assert md[0].title == "Заголовок"
    txt = parse_documents(tmp_path / "заметка.txt", TEXT.encode())
    assert txt[0].title == "заметка" and txt[0].text == TEXT


def test_latin1_text_is_not_read_as_cyrillic():
    text = "Café crème brûlée, naïve façade - déjà vu. " * 3
    decoded = decode_text(text.encode("latin-1"))
    # The Cyrillic preference must not hijack Western text (which 8-bit Western
    # code page wins is charset-normalizer's call).
    assert decoded.startswith("Café") and not any("\u0400" <= c <= "\u04ff" for c in decoded)
