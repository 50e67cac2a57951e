"""Folders that appear whole or not at all.

A folder (a converted model, a trained adapter) is built in a hidden sibling
and renamed into place, so a crash or Ctrl+C never leaves a half-written one
where a reader would look.  Used by index/, adapters/ and assistant/ alike.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def staging_dir(out_dir: Path) -> Path:
    """An empty hidden sibling of ``out_dir`` (same filesystem, so renames are atomic)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))


def swap_into_place(staging: Path, out_dir: Path) -> None:
    """Rename ``staging`` to ``out_dir``, replacing an older folder if present."""
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    # os.replace cannot overwrite a non-empty directory: move the old one aside
    # first, and put it back if the second rename fails.
    retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
    os.replace(out_dir, retired / "old")
    try:
        os.replace(staging, out_dir)
    except OSError:
        os.replace(retired / "old", out_dir)
        retired.rmdir()
        raise
    shutil.rmtree(retired, ignore_errors=True)


def publish_permissions(folder: Path) -> None:
    """Give a staged folder the modes a normally created one would get.

    mkdtemp makes the staging folder private (0700) and some writers create
    0600 files; after the rename that would hide the folder from other users.
    """
    probe = folder / ".umask-probe"
    probe.touch()
    file_mode = probe.stat().st_mode & 0o777
    probe.unlink()
    dir_mode = file_mode | (file_mode & 0o444) >> 2  # x wherever r
    folder.chmod(dir_mode)
    for path in folder.rglob("*"):
        path.chmod(dir_mode if path.is_dir() else file_mode)
