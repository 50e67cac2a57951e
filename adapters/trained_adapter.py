"""What a finished training run leaves: the adapter's manifest and its folder, written whole.

The manifest (``lira-adapter.json``) records the base, the hyperparameters,
the data, the splits and the results; the folder holds peft's safetensors
files and the manifest, staged and swapped into place so that a failed
write leaves the old adapter (or nothing) behind.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.base_model import is_seq2seq_folder
from adapters.manifest import MANIFEST_VERSION, write_manifest
from adapters.stacked import save_inner
from adapters.train_job import TrainJob, stopped_early
from adapters.training_data import TrainingData, data_sha256
from index.atomic_files import publish_permissions, staging_dir, swap_into_place


def training_manifest(job: TrainJob, fingerprint: dict[str, Any], sha256: str,
                      data: TrainingData, hyper: dict[str, Any], splits: dict[str, int],
                      parameters: tuple[int, int], trainer: Any, output: Any,
                      eval_loss: float | None, resume_from: Path | None,
                      started: float) -> dict[str, Any]:
    """The manifest of a finished run: base, hyperparameters, data, splits, results, versions."""
    import peft
    import torch
    import transformers

    options = job.options
    history = trainer.state.log_history
    last_loss = next((h["loss"] for h in reversed(history) if "loss" in h), None)
    trainable, total = parameters
    return {
        "lira_adapter": MANIFEST_VERSION,
        "method": options.method,
        "base": {"reference": job.base_reference, "path": str(job.base_path),
                 "fingerprint": fingerprint, "seq2seq": is_seq2seq_folder(job.base_path),
                 "quantization": options.quantization},
        "hyperparameters": {
            "adapter": hyper, "learning_rate": options.lr, "epochs": options.epochs,
            "max_steps": options.max_steps, "batch_size": options.batch_size,
            "grad_accum": options.grad_accum, "warmup_steps": options.warmup_steps,
            "scheduler": "linear", "weight_decay": options.weight_decay,
            "max_length": options.max_length, "eval_fraction": options.eval_fraction,
            "eval_steps": options.eval_steps, "early_stopping": options.early_stopping,
            "seed": options.seed, "gradient_checkpointing": options.gradient_checkpointing,
            "loss": "full logits" if options.full_logits else "answer positions only"},
        "data": {"files": [{"path": str(Path(p).expanduser().resolve()), "sha256": data_sha256(p)}
                           for p in job.data_paths], "sha256": sha256,
                 "format": data.format, "examples": len(data.examples), "dropped": data.dropped,
                 "options": asdict(options.data) | {"columns": [list(pair) for pair in
                                                            options.data.columns]},
                 "holdout": data.holdout},
        "splits": splits,
        "parameters": {"trainable": trainable, "total": total,
                       "percent": round(100 * trainable / total, 6)},
        "result": {"train_loss": output.training_loss, "last_train_loss": last_loss,
                   "eval_loss": eval_loss, "steps": trainer.state.global_step,
                   "epochs": trainer.state.epoch, "stopped_early": stopped_early(trainer),
                   "resumed_from": str(resume_from) if resume_from else None},
        "wall_time_s": round(time.monotonic() - started, 2),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": job.command,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "peft": peft.__version__},
    }


def write_adapter(model: Any, job: TrainJob, manifest: dict[str, Any], inner: Any = None) -> None:
    """Save the adapter (with its ``inner`` LoRA part when stacked, adapters/stacked.py) and its
    manifest into a staging folder, then swap it into place."""
    save_adapter_folder(model, Path(job.out_dir), job.base_reference, manifest, inner)


def save_adapter_folder(model: Any, out: Path, base_reference: str, manifest: dict[str, Any],
                        inner: Any = None) -> None:
    """Write a PeftModel's adapter and ``manifest`` to ``out`` through a staging folder."""
    staging = staging_dir(out)
    try:
        # peft recorded the folder the base was loaded from (checkpoints keep it, so peft can
        # read the base's config there); the reference is what a user can load again.
        model.active_peft_config.base_model_name_or_path = base_reference
        # Embeddings are never trained here; saying so spares peft a look-up of the base's config.
        model.save_pretrained(str(staging), safe_serialization=True, save_embedding_layers=False)
        # peft adds an empty model-card template naming the local base path; the manifest
        # is the adapter's documentation.
        (staging / "README.md").unlink(missing_ok=True)
        if inner is not None:
            save_inner(inner, staging, base_reference)
        write_manifest(staging, manifest)
        publish_permissions(staging)
        swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
