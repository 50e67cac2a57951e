"""Checkpoints of a training run, kept beside its output folder until the run finishes.

``OUT`` is written only when training ends (whole, via a staging folder); the
Trainer's checkpoints live in the hidden sibling ``.OUT.checkpoints`` with a
``run.json`` that says what run they belong to, so ``--resume`` continues the
same run and refuses another one's.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from adapters.errors import TrainingError

RUN_FILE = "run.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# What must not change between an interrupted run and its resumption.
_IDENTITY = ("method", "base_fingerprint", "data_sha256", "adapter")


def checkpoint_folder(out_dir: Path) -> Path:
    """Where the checkpoints of the run writing ``out_dir`` live."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.checkpoints"


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint (its trainer_state.json, written last, is readable)."""
    if not folder.is_dir():
        return None
    found = sorted(((int(m.group(1)), p) for p in folder.iterdir()
                    if p.is_dir() and (m := _CHECKPOINT.match(p.name))), reverse=True)
    for _, path in found:
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # cut short while being written
        return path
    return None


def start_run(out_dir: Path, run: dict[str, Any], resume: bool) -> tuple[Path, Path | None]:
    """The checkpoint folder for this run and the checkpoint to resume from, if any."""
    folder = checkpoint_folder(out_dir)
    latest = last_checkpoint(folder)
    if resume:
        if latest is None:
            raise TrainingError(f"nothing to resume for {out_dir}: no checkpoint in {folder}; "
                                "run without --resume")
        _check_same_run(folder, run)
        return folder, latest
    if latest is not None:
        raise TrainingError(f"an interrupted run left checkpoints in {folder}; pass --resume to "
                            "continue it, or delete that folder to start over")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / RUN_FILE).write_text(json.dumps(run, ensure_ascii=False, indent=2), encoding="utf-8")
    return folder, None


def finish_run(folder: Path) -> None:
    """Remove a finished run's checkpoints."""
    shutil.rmtree(folder, ignore_errors=True)


def _check_same_run(folder: Path, run: dict[str, Any]) -> None:
    try:
        saved = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise TrainingError(f"{folder} has no readable {RUN_FILE}, so it cannot be resumed "
                            "safely; delete it to start over") from None
    changed = [key for key in _IDENTITY if saved.get(key) != run.get(key)]
    if changed:
        raise TrainingError(f"cannot resume: the checkpoints in {folder} are of a run with "
                            f"another {', '.join(k.replace('_', ' ') for k in changed)}; use the "
                            "same options, or delete that folder to start over")
