"""Reading ZIP archives (EPUB, DOCX, zipped FB2) within a bound on what they unpack to.

A ZIP's headers say how large each member is, but a hostile file can lie,
and an honest one can still unpack one megabyte into gigabytes. So sizes are
never taken from the headers: members are inflated in small chunks through
zipfile's stream, the bytes are counted as they come, and reading stops with
``Skip`` as soon as the running total passes the limit. Memory is then bound
by the limit, whatever the archive says or holds.

Libraries that open the ZIP themselves (ebooklib, python-docx) read each
member whole, in one inflate call that a lying header cannot bound; they get
``repack``'s copy instead: the bytes that were counted, stored uncompressed.
"""

from __future__ import annotations

import io
import warnings
import zipfile
import zlib

from index.documents import Skip

DEFAULT_LIMIT = 50 * 2**20  # the default of max_file_mb (IngestOptions.max_file_bytes)
CHUNK = 2**16
# What zipfile raises on a damaged, encrypted or exotic archive.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
              NotImplementedError, RuntimeError)

__all__ = ["CHUNK", "DEFAULT_LIMIT", "ZIP_ERRORS", "read_member", "repack", "too_large"]


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
    with zipfile.ZipFile(io.BytesIO(data)) as archive, zipfile.ZipFile(out, "w") as copy:
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
