"""Folders that appear whole or not at all."""

import os
from pathlib import Path

import pytest

from index.atomic_files import publish_permissions, staging_dir, swap_into_place


def test_swap_replaces_an_older_folder(tmp_path: Path) -> None:
    old = tmp_path / "bundle"
    old.mkdir()
    (old / "stale.txt").write_text("old")
    new = staging_dir(old)
    (new / "config.json").write_text("new")
    swap_into_place(new, old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    assert [p.name for p in old.iterdir()] == ["config.json"]


def test_failed_swap_keeps_the_old_folder(tmp_path: Path, monkeypatch) -> None:
    old = tmp_path / "bundle"
    old.mkdir()
    (old / "keep.txt").write_text("old")
    new = staging_dir(old)
    real_replace = os.replace

    def flaky(src, dst):
        if Path(src) == new:
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError, match="disk full"):
        swap_into_place(new, old)
    assert (old / "keep.txt").read_text() == "old"


def test_published_folder_is_readable_by_others(tmp_path: Path) -> None:
    staged = staging_dir(tmp_path / "model")
    (staged / "w.bin").write_bytes(b"x")
    (staged / "w.bin").chmod(0o600)
    old_umask = os.umask(0o022)
    try:
        publish_permissions(staged)
    finally:
        os.umask(old_umask)
    assert staged.stat().st_mode & 0o777 == 0o755
    assert (staged / "w.bin").stat().st_mode & 0o777 == 0o644
