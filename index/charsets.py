"""Decoding bytes of unknown encoding, with a preference for Russian code pages."""

from __future__ import annotations

import codecs

from index.documents import Skip


def decode_text(data: bytes) -> str:
    """Decode bytes whose encoding is unknown (UTF-8/16, cp1251, koi8-r...).

    BOMs and valid UTF-8 are trusted first because detectors sometimes call
    short UTF-8 texts something else; the rest goes to charset-normalizer.
    """
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:8192]:
        raise Skip("binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return _damaged_utf8(data) or _detect_cyrillic(data) or _detect_any(data)


# Valid non-ASCII characters needed per damaged sequence for bytes to count as damaged UTF-8.
# Russian code pages never get there: nearly every letter of theirs is invalid UTF-8.
_UTF8_PER_DAMAGE = 20


def _damaged_utf8(data: bytes) -> str | None:
    """UTF-8 with a few damaged bytes (a bad sector, a cut-off copy), with U+FFFD in their place.

    Detectors call such text something else or nothing: one flipped bit in a Russian UTF-8
    file had it skipped as undecodable four times in ten (the fuzz pass found it).
    """
    text = data.decode("utf-8", errors="replace")
    damaged = text.count("\ufffd")
    valid = len(text) - len(text.encode("ascii", errors="ignore")) - damaged
    return text if damaged and valid >= _UTF8_PER_DAMAGE * damaged else None


# Legacy encodings of Russian text; general detection mistakes short koi8-r
# for Japanese, so these are tried first and kept if the result reads as Cyrillic.
_CYRILLIC_ENCODINGS = ["cp1251", "koi8_r", "cp866", "mac_cyrillic"]


def _detect_cyrillic(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=_CYRILLIC_ENCODINGS).best()
    if best is None or best.chaos > 0.2:
        return None
    text = str(best)
    letters = [c for c in text if c.isalpha()]
    cyrillic = sum("\u0400" <= c <= "\u04ff" for c in letters)
    return text if letters and cyrillic / len(letters) >= 0.3 else None


def _detect_any(data: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise Skip("undecodable bytes (unknown text encoding)")
    return str(best)
