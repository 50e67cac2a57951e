"""Training the NLI cross-encoder: a 3-way head and LoRA on an encoder, with the usual run.

`lira train lora` takes this path when its data are NLI pairs (or ``--format
nli``).  It shares the rest of the adapter machinery: the Trainer set-up,
checkpoints and ``--resume``, progress lines, the manifest and the adapter
folder.  What differs: the base is loaded as ``AutoModelForSequenceClassification``
(the encoder inside a sentence-transformers folder), LoRA goes on the
attention and feed-forward layers while the head (classifier and pooler) is
trained whole and faster (adapters/nli_head.py), long premises are cut rather
than dropped, the loss treats two-way rows as "neutral or contradiction", and
a test split is scored at the end (accuracy overall and per set, confusion
matrices).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapters.base_model import pick_device
from adapters.checkpoints import finish_run, last_checkpoint, start_run
from adapters.data_nli import LABELS, NOT_ENTAILMENT, NliData, looks_like_nli, nli_data
from adapters.errors import TrainingDataError, TrainingError
from adapters.manifest import MANIFEST_FILE, folder_fingerprint
from adapters.methods import adapter_layers, check_positive, check_present
from adapters.nli import (
    NliModel,
    encode_pairs,
    encoder_folder,
    load_classifier,
    load_pair_tokenizer,
    longest_pair,
)
from adapters.nli_head import (
    HEAD_LR_FACTOR,
    POOLER_SAMPLE,
    head_modules,
    head_optimizer,
    init_blank_pooler,
)
from adapters.nli_metrics import nli_report
from adapters.train_job import (
    TrainJob,
    TrainResult,
    check_not_stopped,
    check_options,
    run_identity,
    split,
)
from adapters.trained_adapter import training_manifest, write_adapter
from adapters.trainer import build_trainer
from adapters.training_data import TrainingData, data_sha256, data_sha256s

# LoRA's default layers: attention (query, key, value, its output) and both feed-forward ones.
DEFAULT_TARGETS = ("query", "key", "value", "dense")
LOSS = "cross-entropy over 3 classes; two-way rows: -log(p_neutral + p_contradiction)"


def is_nli_job(job: TrainJob) -> bool:
    """Whether ``job`` trains the NLI classifier: ``--format nli``, or data all of NLI pairs."""
    wanted = job.options.data.format
    found = [looks_like_nli(Path(p).expanduser()) for p in job.data_paths]
    nli = wanted == "nli" or (wanted == "auto" and bool(found) and all(found))
    if wanted == "auto" and any(found) and not nli:
        raise TrainingDataError("the data mix NLI pairs with other training data; an NLI "
                                "classifier trains on NLI files alone")
    if not nli and job.options.test_data:
        raise TrainingError("--test-data is for NLI training; other data keep a test split with "
                            "--holdout-articles or --holdout-per-author")
    return nli


def train_nli(job: TrainJob) -> TrainResult:
    """Train and test the NLI classifier of ``job`` and write its adapter folder."""
    started = time.monotonic()
    options = job.options
    check_options(job)
    if options.method != "lora" or options.quantization != "none":
        raise TrainingError("an NLI classifier trains with lora on an unquantized base")
    say = job.progress or (lambda message: None)
    folder = encoder_folder(job.base_path)
    job = replace(job, base_path=folder)  # the manifest then names the folder the model came from
    tokenizer = load_pair_tokenizer(folder)
    data = nli_data(job.data_paths, options.test_data, options.test_fraction, options.seed)
    if options.data.max_examples is not None:
        data.train = data.train[:options.data.max_examples]
    fingerprint = folder_fingerprint(folder)
    run = run_identity(job, fingerprint, data_sha256s([*job.data_paths, *options.test_data]))
    checkpoints, resume_from = start_run(job.out_dir, run, job.resume)
    try:
        model = _classifier(job, folder)
        max_length = longest_pair(tokenizer, model, options.max_length)
        train_set, eval_set = _encoded_splits(job, data, tokenizer, max_length)
        blank = init_blank_pooler(model, train_set, tokenizer.pad_token_id, options.seed)
        model, hyper = _with_lora(job, model)
        hyper["pooler_start"] = (f"standardised <s> state of {POOLER_SAMPLE} training pairs"
                                 if blank else "the base's pooler")
        say(f"data: {len(data.train)} NLI pairs, {len(train_set)} for training, {len(eval_set)} "
            f"for evaluation, {len(data.test)} for the test")
        trainer, output = _fit(job, model, tokenizer, train_set, eval_set, checkpoints, resume_from)
    except BaseException:
        if last_checkpoint(checkpoints) is None:  # nothing worth resuming: leave no clutter
            finish_run(checkpoints)
        raise
    check_not_stopped(job, trainer, checkpoints)
    eval_loss = trainer.evaluate()["eval_loss"] if eval_set else None
    say(f"testing on {len(data.test)} pairs")
    scorer = NliModel(model, tokenizer, max_length, options.batch_size)
    report = nli_report(data.test, scorer.scores([(p.premise, p.hypothesis) for p in data.test]))
    manifest = _nli_manifest(job, fingerprint, run["data_sha256"], data, hyper,
                             (len(train_set), len(eval_set)), trainer, output, eval_loss,
                             resume_from, started, max_length, report)
    return _save(job, model, manifest, checkpoints, say)


def nli_loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
    """Cross-entropy on 3-way rows; -log(p_neutral + p_contradiction) on two-way rows.

    Summed and divided by ``num_items_in_batch`` when the Trainer gives it (so
    gradient accumulation weighs every row alike), else averaged.
    """
    import torch

    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    labels = labels.view(-1).to(logits.device)
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    three_way = labels < NOT_ENTAILMENT
    picked = log_probs.gather(1, labels.clamp(max=len(LABELS) - 1).unsqueeze(1)).squeeze(1)
    not_entailed = torch.logsumexp(log_probs[:, 1:], dim=-1)
    loss = -torch.where(three_way, picked, not_entailed).sum()
    return loss / (num_items_in_batch if num_items_in_batch is not None else len(labels))


def _classifier(job: TrainJob, folder: Path) -> Any:
    """The encoder with a fresh 3-way head (seeded: the head's weights depend on it)."""
    from transformers import set_seed

    set_seed(job.options.seed)
    model = load_classifier(folder, pick_device(job.options.device))
    if job.options.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def _with_lora(job: TrainJob, model: Any) -> tuple[Any, dict[str, Any]]:
    """``model`` wrapped in a fresh LoRA adapter with a trainable head, and its hyperparameters."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import set_seed

    adapter = job.options.adapter
    heads = head_modules(model)
    targets, excluded = _targets(model, adapter.target_modules or DEFAULT_TARGETS, heads)
    check_positive(rank=adapter.rank, alpha=adapter.alpha)
    if not 0 <= adapter.dropout < 1:
        raise TrainingError(f"--dropout must be in [0, 1), not {adapter.dropout}")
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=adapter.rank, lora_alpha=adapter.alpha,
                        lora_dropout=adapter.dropout, target_modules=targets,
                        exclude_modules=excluded or None, modules_to_save=heads)
    set_seed(job.options.seed)  # the adapter's initial weights depend on it
    return get_peft_model(model, config), {
        "rank": adapter.rank, "alpha": adapter.alpha, "dropout": adapter.dropout,
        "target_modules": targets, "modules_to_save": heads}


def _targets(model: Any, wanted: tuple[str, ...],
             heads: list[str]) -> tuple[list[str], list[str]]:
    """LoRA's target layer names and the head's own layers that share those names."""
    layers = adapter_layers(model)
    in_head = [n for n in layers if any(f".{h}." in f".{n}." for h in heads)]
    body = [n for n in layers if n not in in_head]
    check_present(list(wanted), body)
    excluded = [n for n in in_head if n.rsplit(".", 1)[-1] in wanted]
    return list(wanted), excluded


def _encoded_splits(job: TrainJob, data: NliData, tokenizer: Any,
                    max_length: int) -> tuple[list[PairRow], list[PairRow]]:
    ids = encode_pairs(tokenizer, [(p.premise, p.hypothesis) for p in data.train], max_length)
    encoded = [PairRow(input_ids=row, labels=[pair.label]) for row, pair in zip(ids, data.train)]
    return split(encoded, job.options.eval_fraction, job.options.seed)


class PairRow(dict):
    """An encoded pair: attributes for the Collator, a mapping for the length-grouped sampler."""

    @property
    def input_ids(self) -> list[int]:
        return self["input_ids"]

    @property
    def labels(self) -> list[int]:
        return self["labels"]


def _fit(job: TrainJob, model: Any, tokenizer: Any, train_set: list, eval_set: list,
         checkpoints: Path, resume_from: Path | None) -> tuple[Any, Any]:
    trainable, total = model.get_nb_trainable_parameters()
    if job.progress:
        job.progress(f"trainable parameters: {trainable:,} of {total:,} "
                     f"({100 * trainable / total:.4f}%)")
    trainer = build_trainer(job, model, False, tokenizer, train_set, eval_set, checkpoints)
    trainer.compute_loss_func = nli_loss  # the Trainer then passes labels to it, not the model
    trainer.optimizer = head_optimizer(model, job.options.lr, job.options.weight_decay)
    # Pairs vary from 20 to 250 tokens: batches of like lengths halve the padding computed on.
    trainer.args.train_sampling_strategy = "group_by_length"
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    return trainer, output


def _nli_manifest(job: TrainJob, fingerprint: dict[str, Any], sha256: str, data: NliData,
                  hyper: dict[str, Any], sizes: tuple[int, int], trainer: Any, output: Any,
                  eval_loss: float | None, resume_from: Path | None, started: float,
                  max_length: int, report: dict[str, Any]) -> dict[str, Any]:
    """The usual manifest, plus the task, its labels, the test files and the test's results."""
    trained = TrainingData("nli", list(data.train), [], dict(data.dropped))
    splits = {"train": sizes[0], "eval": sizes[1], "test": len(data.test),
              "test_origin": data.test_origin}
    manifest = training_manifest(job, fingerprint, sha256, trained, hyper, splits,
                                 trainer.model.get_nb_trainable_parameters(), trainer, output,
                                 eval_loss, resume_from, started)
    manifest["task"] = "nli"
    manifest["labels"] = list(LABELS)
    manifest["hyperparameters"].update(
        max_length=max_length, loss=LOSS, truncation="premise cut from its end; claim kept whole",
        head_learning_rate=round(job.options.lr * HEAD_LR_FACTOR, 12))
    manifest["data"]["test_files"] = [
        {"path": str(Path(p).expanduser().resolve()), "sha256": data_sha256(p)}
        for p in job.options.test_data]
    manifest["result"].update(report)
    return manifest


def _save(job: TrainJob, model: Any, manifest: dict[str, Any], checkpoints: Path,
          say: Any) -> TrainResult:
    write_adapter(model, job, manifest)
    finish_run(checkpoints)
    accuracy = manifest["result"].get("test_accuracy")
    say(f"test accuracy {accuracy:.4f}" if accuracy is not None else "no test split")
    say(f"wrote {job.out_dir} ({MANIFEST_FILE} has the test results per set)")
    return TrainResult(job.out_dir, manifest, model)
