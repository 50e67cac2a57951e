"""Merging a LoRA or IA3 adapter into its base: a plain model folder with the same outputs.

The merge is checked before anything is written: the merged model's logits
on a few prompts must match the adapted model's.  Prompt tuning adds virtual
tokens in front of every input rather than changing weights, so it has
nothing to merge and is refused.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.base_model import load_base
from adapters.errors import MergeError
from adapters.loading import attach_adapter, inspect_adapter
from adapters.manifest import read_manifest
from adapters.stacked import has_inner
from index.atomic_files import publish_permissions, staging_dir, swap_into_place

MERGE_FILE = "lira-merge.json"
CHECK_PROMPTS = ("Москва — столица России.",
                 "Вопрос: Когда основан Петербург?\nОтвет:",
                 "###Автор:\nАлександр Пушкин\n\n###Название:\nЗимнее утро\n\n###Стихотворение:\n")
TOLERANCE = 1e-3  # of the largest logit; float32 merges differ by about 1e-6


@dataclass
class MergeReport:
    """Where the merged model went and how far its logits moved."""

    out_dir: Path
    method: str
    max_abs_diff: float
    max_abs_logit: float


def merge_adapter(adapter: Path, base_path: Path, out_dir: Path,
                  prompts: Sequence[str] = CHECK_PROMPTS, overwrite: bool = False) -> MergeReport:
    """Merge ``adapter`` into the base in ``base_path`` and save it to ``out_dir``."""
    import torch

    info = inspect_adapter(adapter)
    if info.peft_type == "PROMPT_TUNING":
        part = " with a LoRA part" if has_inner(info.path) else ""
        raise MergeError(f"{adapter} is a prompt-tuning adapter{part}, which cannot be merged (it "
                         "adds virtual tokens, not weights); load it with --adapter instead")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise MergeError(f"{out_dir} already exists; pass --overwrite or choose another --out")
    base = load_base(base_path, "cpu")
    model = attach_adapter(base.model, info.path)
    with torch.no_grad():
        before = [_logits(model, base, p) for p in prompts]
        merged = model.merge_and_unload()
        merged.eval()
        after = [_logits(merged, base, p) for p in prompts]
    diff = max(float((a - b).abs().max()) for a, b in zip(before, after))
    scale = max(float(a.abs().max()) for a in before)
    if diff > TOLERANCE * max(1.0, scale):
        raise MergeError(f"merging {adapter} changed the logits by {diff:.3g} (largest logit "
                         f"{scale:.3g}); the merged model was not written")
    method = {"LORA": "lora", "IA3": "ia3"}.get(info.peft_type, info.peft_type.lower())
    _save(merged, base.tokenizer, out_dir, {
        "merged_from": str(info.path), "method": method, "base": str(base_path),
        "max_abs_logit_diff": diff, "check_prompts": list(prompts),
        "adapter_manifest": read_manifest(info.path)})
    return MergeReport(out_dir, method, diff, scale)


def _logits(model: Any, base: Any, prompt: str) -> Any:
    inputs = base.tokenizer(prompt, return_tensors="pt")
    if base.seq2seq:
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        start = inner.prepare_decoder_input_ids_from_labels(labels=inputs["input_ids"])
        return model(**inputs, decoder_input_ids=start).logits[0].float()
    return model(**inputs).logits[0].float()


def _save(model: Any, tokenizer: Any, out_dir: Path, note: dict[str, Any]) -> None:
    staging = staging_dir(out_dir)
    try:
        model.save_pretrained(str(staging), safe_serialization=True)
        tokenizer.save_pretrained(str(staging))
        (staging / MERGE_FILE).write_text(json.dumps(note, ensure_ascii=False, indent=2) + "\n",
                                          encoding="utf-8")
        publish_permissions(staging)
        swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
