"""Reading ZIP archives (EPUB, DOCX, zipped FB2) within a bound on what they unpack to.

A ZIP's headers say how large each member is, but a hostile file can lie,
and an honest one can still unpack one megabyte into gigabytes. So sizes are
never taken from the headers: members are inflated in small chunks through
zipfile's stream, the bytes are counted as they come, and reading stops with
``Skip`` as soon as the running total passes the limit. Memory is then bound
by the limit, whatever the archive says or holds.

The central directory is bounded before zipfile reads it: zipfile parses all of it up
front (a 50 MB file of empty members is 600,000 entries, seconds and hundreds of MB).

Libraries that open the ZIP themselves (ebooklib, python-docx) read each
member whole, in one inflate call that a lying header cannot bound; they get
``repack``'s copy instead: the bytes that were counted, stored uncompressed.
"""

from __future__ import annotations

import io
import lzma
import struct
import warnings
import zipfile
import zlib

from index.documents import Skip

DEFAULT_LIMIT = 50 * 2**20  # the default of max_file_mb (IngestOptions.max_file_bytes)
CHUNK = 2**16
# What zipfile raises on a damaged, encrypted or exotic archive (a damaged LZMA member's
# error comes through as it is: an Exception, not an OSError).
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
              ValueError, NotImplementedError, RuntimeError)

# An EPUB of an illustrated book holds a few hundred members, a DOCX a few dozen.
MAX_MEMBERS = 10_000
MAX_DIRECTORY_BYTES = 4 * 2**20  # MAX_MEMBERS entries with names of ~350 bytes

__all__ = ["CHUNK", "DEFAULT_LIMIT", "MAX_MEMBERS", "ZIP_ERRORS", "open_zip", "read_member", "repack",
           "too_large"]


def open_zip(data: bytes) -> zipfile.ZipFile:
    """The ZIP in ``data``, or Skip when its central directory is larger than
    MAX_DIRECTORY_BYTES or lists more than MAX_MEMBERS members.

    zipfile's own errors pass through; see ZIP_ERRORS.
    """
    if _directory_bytes(data) > MAX_DIRECTORY_BYTES:
        raise Skip(f"a ZIP directory of more than {MAX_DIRECTORY_BYTES // 2**20} MB; "
                   "not a document Lira reads")
    archive = zipfile.ZipFile(io.BytesIO(data))
    if len(archive.infolist()) > MAX_MEMBERS:
        archive.close()
        raise Skip(f"a ZIP of more than {MAX_MEMBERS:,} members; not a document Lira reads")
    return archive


def _directory_bytes(data: bytes) -> int:
    """The central directory's size as the end records state it (the larger of the classic
    and the ZIP64 one, which zipfile prefers); 0 without an end record (zipfile refuses it)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65535))
    if end < 0 or end + 22 > len(data):
        return 0
    size = struct.unpack_from("<I", data, end + 12)[0]
    locator = end - 20
    if locator >= 0 and data[locator:locator + 4] == b"PK\x06\x07":
        record = struct.unpack_from("<Q", data, locator + 8)[0]
        if record + 56 <= len(data) and data[record:record + 4] == b"PK\x06\x06":
            size = max(size, struct.unpack_from("<Q", data, record + 40)[0])
    return size


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """The member's bytes, or Skip as soon as more than ``limit`` bytes have come out.

    zipfile's own errors (a bad CRC, a truncated stream...) pass through; see ZIP_ERRORS.
    """
    parts: list[bytes] = []
    total = 0
    with archive.open(info) as stream:
        while chunk := stream.read(CHUNK):
            total += len(chunk)
            if total > limit:
                raise Skip(too_large(limit, info.filename))
            parts.append(chunk)
    return b"".join(parts)


def repack(data: bytes, limit: int) -> bytes:
    """A copy of the ZIP in ``data`` whose members hold only the bytes counted on the way,
    stored uncompressed; Skip once all members together inflate to more than ``limit``.

    zipfile's own errors pass through; see ZIP_ERRORS.
    """
    out = io.BytesIO()
    total = 0
    with open_zip(data) as archive, zipfile.ZipFile(out, "w") as copy:
        for info in archive.infolist():
            with archive.open(info) as stream, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a duplicate name stays a duplicate, as it was
                with copy.open(zipfile.ZipInfo(info.filename), "w", force_zip64=True) as target:
                    while chunk := stream.read(CHUNK):
                        total += len(chunk)
                        if total > limit:
                            raise Skip(too_large(limit, info.filename))
                        target.write(chunk)
    return out.getvalue()


def too_large(limit: int, member: str) -> str:
    """The Skip reason for an archive that unpacks past the limit."""
    mb = f"{limit / 2**20:.1f}".rstrip("0").rstrip(".") if limit >= 2**20 else f"{limit / 2**20:.3g}"
    name = " ".join(member.split())[:60]
    return f"unpacks to more than {mb} MB (at '{name}'); raise max_file_mb to index it"
