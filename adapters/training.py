"""Training an adapter with peft and the transformers Trainer.

The run: read and encode the data (before the expensive model load, so bad
data fails fast), load the base (optionally 8/4-bit, prepared for k-bit
training), wrap it with the method's peft config, train with a linear
schedule after warm-up, evaluate, and write the adapter folder whole: peft's
safetensors files plus ``lira-adapter.json``.  Checkpoints go to a hidden
sibling folder so ``--resume`` can continue an interrupted run.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from adapters.base_model import (
    is_seq2seq_folder,
    load_base,
    load_tokenizer,
    pick_device,
)
from adapters.checkpoints import finish_run, last_checkpoint, start_run
from adapters.errors import TrainingDataError
from adapters.examples import encode_all
from adapters.manifest import folder_fingerprint
from adapters.methods import build_peft_config, method_parts
from adapters.nli_training import is_nli_job, train_nli
from adapters.stacked import (
    INNER_FOLDER,
    inner_callback,
    load_inner_weights,
    stack_prompt_tuning,
)
from adapters.train_job import (
    TrainJob,
    TrainOptions,
    TrainResult,
    check_not_stopped,
    check_options,
    run_identity,
    split,
)
from adapters.trained_adapter import training_manifest, write_adapter
from adapters.trainer import build_trainer
from adapters.training_data import data_sha256s, load_training_data

# `lira train` and the benchmarks start here: a job, its options and its result, and train().
__all__ = ["TrainJob", "TrainOptions", "TrainResult", "train"]


def train(job: TrainJob) -> TrainResult:
    """Run ``job`` to the end and write its adapter folder; see the module docstring."""
    with warnings.catch_warnings():
        # transformers 5 and peft warn about their own deprecated internals on every run.
        warnings.filterwarnings("ignore", category=FutureWarning)
        return train_nli(job) if is_nli_job(job) else _train(job)


def _train(job: TrainJob) -> TrainResult:
    started = time.monotonic()
    options = job.options
    check_options(job)
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
    fingerprint = folder_fingerprint(job.base_path)
    run = run_identity(job, fingerprint, data_sha256s(job.data_paths))
    checkpoints, resume_from = start_run(job.out_dir, run, job.resume)
    try:
        model, hyper, inner = _adapted_model(job, tokenizer, seq2seq)
        trainable, total = model.get_nb_trainable_parameters()
        say(f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.4f}%)")
        trainer = build_trainer(job, model, seq2seq, tokenizer, train_set, eval_set, checkpoints)
        if inner is not None:  # the Trainer saves and resumes only the outer part
            trainer.add_callback(inner_callback(inner))
            if resume_from:
                load_inner_weights(inner, resume_from)
        output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except BaseException:
        if last_checkpoint(checkpoints) is None:  # nothing worth resuming: leave no clutter
            finish_run(checkpoints)
        raise
    check_not_stopped(job, trainer, checkpoints)
    eval_loss = trainer.evaluate()["eval_loss"] if eval_set else None
    manifest = training_manifest(job, fingerprint, run["data_sha256"], data, hyper,
                                 {"train": len(train_set), "eval": len(eval_set),
                                  "holdout": len(data.holdout)},
                                 (trainable, total), trainer, output, eval_loss, resume_from,
                                 started)
    if inner is not None:
        manifest["parts"] = {"prompt-tuning": ".", "lora": f"{INNER_FOLDER}/"}
    write_adapter(model, job, manifest, inner)
    finish_run(checkpoints)
    say(f"wrote {job.out_dir}")
    return TrainResult(job.out_dir, manifest, model)


def _token_counter(tokenizer: Any) -> Callable[[str], int]:
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _adapted_model(job: TrainJob, tokenizer: Any,
                   seq2seq: bool) -> tuple[Any, dict[str, Any], Any]:
    """The base wrapped with a fresh adapter, the adapter's hyperparameters, and for a stacked
    method the inner LoRA PeftModel (else None)."""
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
    parts = method_parts(options.method)
    built = [build_peft_config(part, model, seq2seq, options.adapter, str(job.base_path))
             for part in parts]
    peft_model = get_peft_model(model, built[0][0])
    if len(parts) == 1:
        return peft_model, built[0][1], None
    hyper = {part: part_hyper for part, (_, part_hyper) in zip(parts, built)}
    return stack_prompt_tuning(peft_model, built[1][0]), hyper, peft_model


def _names(paths: Sequence[Path]) -> str:
    return ", ".join(str(p) for p in paths)
