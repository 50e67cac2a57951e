"""One file of a Hub repository into the Hugging Face cache's blobs, resumably.

huggingface_hub 2.x downloads each file into a process-unique temporary file and
deletes it when the download fails, so a pull cut by Ctrl+C or by the network would
start that file over.  Lira keeps the bytes in ``blobs/<etag>.incomplete`` (the name
huggingface_hub itself used before) and asks for the rest with a Range request; the
whole file is checked against its ETag before it is renamed into the blob, so a
blob is never half-written.  huggingface_hub then links it into the snapshot.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from assistant.errors import LiraError


class BlobMismatch(LiraError):
    """A downloaded file does not match the checksum the Hub gave for it."""


def fetch_blob(repo_id: str, filename: str, commit: str, cache: Path, bar: type) -> None:
    """Download ``filename`` of ``repo_id`` at ``commit`` into ``cache``'s blobs, resuming
    a partial download; nothing when the blob is already there."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    meta = get_hf_file_metadata(hf_hub_url(repo_id, filename, revision=commit))
    blobs = repo_folder(cache, repo_id) / "blobs"
    blob = blobs / meta.etag
    if blob.exists():
        return
    blobs.mkdir(parents=True, exist_ok=True)
    partial = blobs / f"{meta.etag}.incomplete"
    if meta.size is not None and partial.exists() and partial.stat().st_size > meta.size:
        partial.unlink()  # longer than the file: not a beginning of it
    with partial.open("ab") as out:
        http_get(meta.location, out, resume_size=out.tell(), headers=build_hf_headers(),
                 expected_size=meta.size, displayed_filename=filename, tqdm_class=bar)
    if not matches_etag(partial, meta.etag):
        partial.unlink()
        raise BlobMismatch(f"{filename} of {repo_id} arrived damaged (its checksum differs); "
                           f"re-run `lira models pull {repo_id}` to fetch it again")
    os.replace(partial, blob)


def repo_folder(cache: Path, repo_id: str) -> Path:
    """A model repository's folder in the Hugging Face cache."""
    return cache / ("models--" + repo_id.replace("/", "--"))


def matches_etag(path: Path, etag: str) -> bool:
    """Whether a file is the one the Hub's ETag names: a sha256 for large (LFS) files, a
    git blob sha1 for the others; an ETag of another form cannot be checked here."""
    if len(etag) == 64:
        digest = hashlib.sha256()
    elif len(etag) == 40:
        digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    else:
        return True
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == etag
