"""The transformers Trainer set up for a training job: arguments, loss path, callbacks.

Checkpoints and evaluation share one interval (early stopping needs that);
the loss is computed from answer-position logits only unless the job asks
for the plain full-logits path; progress goes to the job's printer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.base_model import pick_device
from adapters.examples import Collator
from adapters.masked_loss import masked_lm_loss, supports_masked_loss
from adapters.train_job import TrainJob
from adapters.train_progress import progress_callback, stop_callback


def masked_trainer_class() -> type:
    """A Trainer whose loss skips the logits of positions without a label."""
    from transformers import Trainer

    class MaskedLossTrainer(Trainer):
        seq2seq = False

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = masked_lm_loss(model, inputs, self.seq2seq, num_items_in_batch)
            return (loss, {"loss": loss}) if return_outputs else loss

    return MaskedLossTrainer


def build_trainer(job: TrainJob, model: Any, seq2seq: bool, tokenizer: Any, train_set: list,
                  eval_set: list, checkpoints: Path) -> Any:
    """A Trainer (or the masked-loss one) for ``model`` on the encoded examples."""
    from transformers import (
        EarlyStoppingCallback,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    options = job.options
    evaluate = bool(eval_set)
    device = pick_device(options.device)
    args = TrainingArguments(
        output_dir=str(checkpoints), per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum, learning_rate=options.lr,
        num_train_epochs=options.epochs, max_steps=options.max_steps or -1,
        warmup_steps=options.warmup_steps, lr_scheduler_type="linear",
        weight_decay=options.weight_decay, logging_steps=options.logging_steps,
        save_strategy="steps", save_steps=options.eval_steps, save_total_limit=2,
        eval_strategy="steps" if evaluate else "no", eval_steps=options.eval_steps,
        load_best_model_at_end=evaluate and options.early_stopping > 0,
        metric_for_best_model="eval_loss", greater_is_better=False,
        seed=options.seed, data_seed=options.seed, report_to=[], disable_tqdm=True,
        use_cpu=device == "cpu", bf16=_use_bf16(device), remove_unused_columns=False,
        label_names=["labels"], prediction_loss_only=True, dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding")
    masked = not options.full_logits and supports_masked_loss(model)
    trainer_class = masked_trainer_class() if masked else Trainer
    callbacks = list(job.callbacks)
    if job.progress:
        callbacks.append(progress_callback(job.progress))
    if job.stop is not None:
        callbacks.append(stop_callback(job.stop))
    if evaluate and options.early_stopping > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=options.early_stopping))
    trainer = trainer_class(model=model, args=args, train_dataset=train_set,
                            eval_dataset=eval_set or None, data_collator=Collator(
                                tokenizer.pad_token_id), callbacks=callbacks)
    trainer.seq2seq = seq2seq
    trainer.remove_callback(PrinterCallback)  # its raw dicts would duplicate our lines
    return trainer


def _use_bf16(device: str) -> bool:
    import torch

    return device == "cuda" and torch.cuda.is_bf16_supported()
