"""LoRA and prompt tuning as one adapter (the seed 001's recipe), trained jointly.

peft keeps one kind of adapter per PeftModel ("Cannot combine adapters with
different peft types"), and its mixed model takes only the LoRA family, not
prompt learning.  So the two are stacked: LoRA layers are put into the base
(a LoRA PeftModel, whose base keeps them), and a prompt-tuning PeftModel is
wrapped around that base; peft freezes everything under it, so the LoRA
weights are made trainable again and one optimizer trains both.

The adapter folder is the prompt-tuning adapter as peft writes it, with the
LoRA adapter in its subfolder ``lora/``; adapters/loading.py puts that part
back first, so the folder loads as one unit.  Trainer checkpoints carry the LoRA weights
in a file of their own.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from adapters.errors import TrainingError

INNER_FOLDER = "lora"  # the LoRA part inside the adapter folder
CHECKPOINT_FILE = "lira-inner-lora.safetensors"  # the LoRA part inside a Trainer checkpoint


def stack_prompt_tuning(lora_model: Any, prompt_config: Any) -> Any:
    """A prompt-tuning PeftModel around ``lora_model``'s base, with both parts trainable."""
    from peft import get_peft_model

    with warnings.catch_warnings():
        # "modify a model with PEFT for a second time": intended, the LoRA layers stay.
        warnings.simplefilter("ignore", UserWarning)
        model = get_peft_model(lora_model.get_base_model(), prompt_config)
    for name, param in model.named_parameters():
        if "lora_" in name:
            param.requires_grad_(True)
    return model


def save_inner(inner: Any, folder: Path, base_reference: str | None = None) -> None:
    """Write the LoRA part into ``folder``/lora (peft's files, without its model card)."""
    target = Path(folder) / INNER_FOLDER
    if base_reference is not None:
        inner.active_peft_config.base_model_name_or_path = base_reference
    inner.save_pretrained(str(target), safe_serialization=True, save_embedding_layers=False)
    (target / "README.md").unlink(missing_ok=True)


def save_inner_checkpoint(inner: Any, checkpoint: Path) -> None:
    """Write the LoRA weights into a Trainer checkpoint as one file, not a folder: the
    Trainer would take an adapter folder there for an adapter of its own and fail to load it."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in get_peft_model_state_dict(inner).items()}
    save_file(state, str(Path(checkpoint) / CHECKPOINT_FILE))


def load_inner_weights(inner: Any, checkpoint: Path) -> None:
    """Put the LoRA weights of a Trainer ``checkpoint`` back into ``inner`` (--resume, best)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    source = Path(checkpoint) / CHECKPOINT_FILE
    if not source.is_file():
        raise TrainingError(f"checkpoint {checkpoint} has no {CHECKPOINT_FILE} (cut short "
                            "while being written); delete it to resume from the one before")
    set_peft_model_state_dict(inner, load_file(str(source)))


def has_inner(folder: Path) -> bool:
    """Whether the adapter in ``folder`` has a LoRA part beneath it."""
    return (Path(folder) / INNER_FOLDER).is_dir()


def inner_callback(inner: Any) -> Any:
    """A Trainer callback that saves the LoRA part into each checkpoint, and loads the best
    checkpoint's back when the Trainer loads the best model at the end (its prompt part)."""
    from transformers import TrainerCallback

    class InnerPart(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            save_inner_checkpoint(inner, Path(args.output_dir) / f"checkpoint-{state.global_step}")

        def on_train_end(self, args, state, control, **kwargs):
            if args.load_best_model_at_end and state.best_model_checkpoint:
                load_inner_weights(inner, Path(state.best_model_checkpoint))

    return InnerPart()
