"""A training run: its job and options, and the steps every kind of run takes alike.

`lira train` builds a :class:`TrainJob`; adapters/training.py runs it for a
prompt/answer adapter and adapters/nli_training.py for the NLI classifier.
Both check the options, name the run for ``--resume``, split training from
evaluation examples and stop on request the same way, with what is here.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adapters.errors import TrainingError, TrainingInterrupted
from adapters.examples import Encoded
from adapters.methods import MethodOptions, check_method
from adapters.training_data import DataOptions

Progress = Callable[[str], None]
# LoRA with prompt tuning: the seed 001's rate, which trained both parts together.
DEFAULT_LEARNING_RATES = {"lora": 2e-4, "ia3": 3e-3, "prompt-tuning": 3e-2,
                          "lora+prompt-tuning": 3e-4}


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


def check_options(job: TrainJob) -> None:
    """Refuse options out of range, and an existing ``--out`` without --overwrite or --resume."""
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


def run_identity(job: TrainJob, fingerprint: dict[str, Any], sha256: str) -> dict[str, Any]:
    """What a checkpoint must match for ``--resume``: method, base, data and adapter settings."""
    return {"method": job.options.method, "base_fingerprint": fingerprint, "data_sha256": sha256,
            "adapter": asdict(job.options.adapter) | {"target_modules": list(
                job.options.adapter.target_modules), "feedforward_modules": list(
                job.options.adapter.feedforward_modules)}}


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


def stopped_early(trainer: Any) -> bool:
    """Whether the Trainer stopped before its last step (early stopping or a stop request)."""
    return trainer.state.global_step < trainer.state.max_steps


def check_not_stopped(job: TrainJob, trainer: Any, checkpoints: Path) -> None:
    """Raise TrainingInterrupted when the run stopped early because ``job.stop`` was set."""
    if job.stop is not None and job.stop.is_set() and stopped_early(trainer):
        raise TrainingInterrupted(f"stopped at step {trainer.state.global_step}; the checkpoint is "
                                  f"in {checkpoints}; run the same command with --resume to go on")
