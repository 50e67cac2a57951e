"""Training an adapter with peft and the transformers Trainer.

The run: read and encode the data (before the expensive model load, so bad
data fails fast), load the base (optionally 8/4-bit, prepared for k-bit
training), wrap it with the method's peft config, train with a linear
schedule after warm-up, evaluate, and write the adapter folder whole: peft's
safetensors files plus ``lira-adapter.json``.  Checkpoints go to a hidden
sibling folder so ``--resume`` can continue an interrupted run.
"""

from __future__ import annotations

import random
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.base_model import (
    is_seq2seq_folder,
    load_base,
    load_tokenizer,
    pick_device,
)
from adapters.checkpoints import finish_run, last_checkpoint, start_run
from adapters.errors import TrainingDataError, TrainingError, TrainingInterrupted
from adapters.examples import Encoded, encode_all
from adapters.manifest import MANIFEST_VERSION, base_fingerprint, write_manifest
from adapters.methods import MethodOptions, build_peft_config, check_method
from adapters.trainer import build_trainer
from adapters.training_data import (
    DataOptions,
    TrainingData,
    data_sha256,
    data_sha256s,
    load_training_data,
)

Progress = Callable[[str], None]
DEFAULT_LEARNING_RATES = {"lora": 2e-4, "ia3": 3e-3, "prompt-tuning": 3e-2}


@dataclass(frozen=True)
class TrainOptions:
    """How to train: the loop's hyperparameters (the adapter's own are in ``adapter``)."""

    method: str
    adapter: MethodOptions = field(default_factory=MethodOptions)
    data: DataOptions = field(default_factory=DataOptions)
    epochs: float = 3.0
    max_steps: int | None = None  # overrides epochs when set
    learning_rate: float | None = None  # None: the method's default
    batch_size: int = 1
    grad_accum: int = 1
    warmup_steps: int = 2
    weight_decay: float = 0.0
    max_length: int = 1024  # longer examples are left out
    eval_fraction: float = 0.1
    eval_steps: int = 100  # evaluate and checkpoint every this many optimizer steps
    early_stopping: int = 0  # evaluations without improvement before stopping; 0: never
    seed: int = 42
    logging_steps: int = 10
    quantization: str = "none"
    gradient_checkpointing: bool = False
    device: str = "auto"
    full_logits: bool = False  # compute logits at every position (the slow, plain path)
    test_data: tuple[Path, ...] = ()  # NLI: files kept for the test (see adapters/data_nli.py)
    test_fraction: float = 0.1  # NLI: share of each set without a test file kept for the test

    @property
    def lr(self) -> float:
        return self.learning_rate or DEFAULT_LEARNING_RATES[self.method]


@dataclass
class TrainJob:
    """One training run: what to train on, where to write it, and who is listening."""

    base_reference: str
    base_path: Path
    data_paths: Sequence[Path]  # one or more data files, read in this order
    out_dir: Path
    options: TrainOptions
    resume: bool = False
    overwrite: bool = False
    command: str = ""
    progress: Progress | None = None
    stop: threading.Event | None = None  # set it to stop after the current step
    callbacks: Sequence[Any] = ()  # extra Trainer callbacks


@dataclass
class TrainResult:
    """The adapter folder written, its manifest, and the trained model still in memory."""

    out_dir: Path
    manifest: dict[str, Any]
    model: Any = None


def train(job: TrainJob) -> TrainResult:
    """Run ``job`` to the end and write its adapter folder; see the module docstring."""
    with warnings.catch_warnings():
        # transformers 5 and peft warn about their own deprecated internals on every run.
        warnings.filterwarnings("ignore", category=FutureWarning)
        from adapters.nli_training import is_nli_job, train_nli

        return train_nli(job) if is_nli_job(job) else _train(job)


def _train(job: TrainJob) -> TrainResult:
    started = time.monotonic()
    options = job.options
    _check_options(job)
    say = job.progress or (lambda message: None)
    tokenizer = load_tokenizer(job.base_path)
    seq2seq = is_seq2seq_folder(job.base_path)
    data = load_training_data(job.data_paths, options.data, _token_counter(tokenizer))
    encoded, too_long = encode_all(data.examples, tokenizer, seq2seq, options.max_length)
    if not encoded:
        raise TrainingDataError(f"every example in {_names(job.data_paths)} is longer than --max-length "
                                f"{options.max_length} tokens; raise it")
    if too_long:
        data.dropped["too_long_for_max_length"] = too_long
    train_set, eval_set = split(encoded, options.eval_fraction, options.seed)
    longer = f" ({too_long} over --max-length left out)" if too_long else ""
    say(f"data: {len(data.examples)} {data.format} examples{longer}, {len(train_set)} for "
        f"training, {len(eval_set)} for evaluation, {len(data.holdout)} held out")
    fingerprint = _fingerprint(job.base_path)
    run = _run_identity(job, fingerprint, data_sha256s(job.data_paths))
    checkpoints, resume_from = start_run(job.out_dir, run, job.resume)
    try:
        model, hyper = _adapted_model(job, tokenizer, seq2seq)
        trainable, total = model.get_nb_trainable_parameters()
        say(f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.4f}%)")
        trainer = build_trainer(job, model, seq2seq, tokenizer, train_set, eval_set, checkpoints)
        output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except BaseException:
        if last_checkpoint(checkpoints) is None:  # nothing worth resuming: leave no clutter
            finish_run(checkpoints)
        raise
    if job.stop is not None and job.stop.is_set() and _stopped_early(trainer):
        raise TrainingInterrupted(f"stopped at step {trainer.state.global_step}; the checkpoint is "
                                  f"in {checkpoints}; run the same command with --resume to go on")
    eval_loss = trainer.evaluate()["eval_loss"] if eval_set else None
    manifest = _manifest(job, fingerprint, run["data_sha256"], data, hyper,
                         {"train": len(train_set), "eval": len(eval_set),
                          "holdout": len(data.holdout)},
                         (trainable, total), trainer, output, eval_loss, resume_from, started)
    _write_adapter(model, job, manifest)
    finish_run(checkpoints)
    say(f"wrote {job.out_dir}")
    return TrainResult(job.out_dir, manifest, model)


def split(items: Sequence[Encoded], eval_fraction: float,
          seed: int) -> tuple[list[Encoded], list[Encoded]]:
    """A seeded random train/eval split; at least one of each when there are two or more."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    count = round(len(items) * eval_fraction) if eval_fraction > 0 else 0
    if eval_fraction > 0 and len(items) >= 2:
        count = min(max(count, 1), len(items) - 1)
    held = set(order[:count])
    return ([x for i, x in enumerate(items) if i not in held],
            [x for i, x in enumerate(items) if i in held])


def _check_options(job: TrainJob) -> None:
    options = job.options
    check_method(options.method)
    checks = [(options.batch_size >= 1, "--batch-size must be at least 1"),
              (options.grad_accum >= 1, "--grad-accum must be at least 1"),
              (options.epochs > 0 or options.max_steps, "--epochs must be above 0"),
              (options.max_steps is None or options.max_steps >= 1, "--max-steps must be at least 1"),
              (0 <= options.eval_fraction < 1, "--eval-fraction must be in [0, 1)"),
              (options.eval_steps >= 1, "--eval-steps must be at least 1"),
              (options.lr > 0, "--lr must be above 0"),
              (options.max_length >= 8, "--max-length must be at least 8"),
              (not (options.early_stopping and options.eval_fraction == 0),
               "--early-stopping needs an evaluation split (--eval-fraction above 0)")]
    for ok, message in checks:
        if not ok:
            raise TrainingError(message)
    out = Path(job.out_dir)
    if out.exists() and any(out.iterdir()) and not job.overwrite and not job.resume:
        raise TrainingError(f"{out} already exists; pass --overwrite to replace it or choose "
                            "another --out")


def _token_counter(tokenizer: Any) -> Callable[[str], int]:
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _fingerprint(base_path: Path) -> dict[str, Any]:
    from transformers import AutoConfig

    return base_fingerprint(AutoConfig.from_pretrained(str(base_path), local_files_only=True,
                                                       trust_remote_code=False))


def _run_identity(job: TrainJob, fingerprint: dict[str, Any], sha256: str) -> dict[str, Any]:
    return {"method": job.options.method, "base_fingerprint": fingerprint, "data_sha256": sha256,
            "adapter": asdict(job.options.adapter) | {"target_modules": list(
                job.options.adapter.target_modules), "feedforward_modules": list(
                job.options.adapter.feedforward_modules)}}


def _adapted_model(job: TrainJob, tokenizer: Any, seq2seq: bool) -> tuple[Any, dict[str, Any]]:
    """The base wrapped with a fresh adapter, and the adapter's hyperparameters."""
    from peft import get_peft_model
    from transformers import set_seed

    options = job.options
    set_seed(options.seed)  # the adapter's initial weights depend on it
    base = load_base(job.base_path, pick_device(options.device), options.quantization, tokenizer)
    model = base.model
    if options.quantization != "none":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=options.gradient_checkpointing)
    elif options.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if options.gradient_checkpointing:
        model.config.use_cache = False
    config, hyper = build_peft_config(options.method, model, seq2seq, options.adapter,
                                      str(job.base_path))
    return get_peft_model(model, config), hyper


def _manifest(job: TrainJob, fingerprint: dict[str, Any], sha256: str, data: TrainingData,
              hyper: dict[str, Any], splits: dict[str, int], parameters: tuple[int, int],
              trainer: Any, output: Any, eval_loss: float | None, resume_from: Path | None,
              started: float) -> dict[str, Any]:
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
                 "options": asdict(options.data), "holdout": data.holdout},
        "splits": splits,
        "parameters": {"trainable": trainable, "total": total,
                       "percent": round(100 * trainable / total, 6)},
        "result": {"train_loss": output.training_loss, "last_train_loss": last_loss,
                   "eval_loss": eval_loss, "steps": trainer.state.global_step,
                   "epochs": trainer.state.epoch, "stopped_early": _stopped_early(trainer),
                   "resumed_from": str(resume_from) if resume_from else None},
        "wall_time_s": round(time.monotonic() - started, 2),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": job.command,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "peft": peft.__version__},
    }


def _names(paths: Sequence[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def _stopped_early(trainer: Any) -> bool:
    return trainer.state.global_step < trainer.state.max_steps


def _write_adapter(model: Any, job: TrainJob, manifest: dict[str, Any]) -> None:
    """Save the adapter and its manifest into a staging folder, then swap it into place."""
    from index.atomic_files import publish_permissions, staging_dir, swap_into_place

    out = Path(job.out_dir)
    staging = staging_dir(out)
    try:
        # peft recorded the folder the base was loaded from (checkpoints keep it, so peft can
        # read the base's config there); the reference is what a user can load again.
        model.active_peft_config.base_model_name_or_path = job.base_reference
        # Embeddings are never trained here; saying so spares peft a look-up of the base's config.
        model.save_pretrained(str(staging), safe_serialization=True, save_embedding_layers=False)
        # peft adds an empty model-card template naming the local base path; the manifest
        # is the adapter's documentation.
        (staging / "README.md").unlink(missing_ok=True)
        write_manifest(staging, manifest)
        publish_permissions(staging)
        swap_into_place(staging, out)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
