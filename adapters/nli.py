"""The NLI cross-encoder: an encoder with a 3-way head and a LoRA adapter, scoring pairs.

The premise (a source passage) and the hypothesis (a claim) are read as one
pair ``<s> premise </s></s> claim </s>``.  A passage longer than the model reads
is cut at its end and the claim kept whole; only a claim that leaves no room
for a premise is cut as well.  Training (adapters/nli_training.py) and scoring
encode pairs with the same function, so they see the same inputs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.base_model import open_tokenizer, quiet_load
from adapters.data_nli import LABELS
from adapters.errors import AdapterFolderError, TrainingError
from adapters.loading import attach_adapter, inspect_adapter
from adapters.manifest import check_base, folder_fingerprint, read_manifest
from adapters.registry import BUNDLED_DIR

BUNDLED_NLI = BUNDLED_DIR / "nli"
DEFAULT_MAX_LENGTH = 256
_MIN_PREMISE_TOKENS = 32  # a claim longer than the budget less this is cut too


@dataclass(frozen=True)
class NliOptions:
    """How to score: the longest pair in tokens (None: as trained), batch size, device."""

    max_length: int | None = None
    batch_size: int = 16
    device: str = "cpu"


def base_reference(adapter: Path = BUNDLED_NLI) -> str | None:
    """The base an NLI adapter was trained on, as its manifest names it (for callers to resolve)."""
    return ((read_manifest(Path(adapter)) or {}).get("base") or {}).get("reference")


def encoder_folder(path: Path) -> Path:
    """The transformers model inside a sentence-transformers folder (or ``path`` itself)."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{path} is not a model folder (no config.json or "
                            "modules.json)") from exc
    inner = next((path / m.get("path", "") for m in modules
                  if str(m.get("type", "")).endswith("Transformer")), None)
    if inner is None or not (inner / "config.json").is_file():
        raise TrainingError(f"{path} has no transformers encoder in its modules.json")
    return inner


def load_pair_tokenizer(folder: Path) -> Any:
    """The encoder's tokenizer; it must have a padding token to batch pairs."""
    tokenizer = open_tokenizer(folder)
    if tokenizer.pad_token_id is None:
        raise TrainingError(f"the tokenizer of {folder} has no padding token")
    return tokenizer


def load_classifier(folder: Path, device: str = "cpu") -> Any:
    """The encoder in ``folder`` with a fresh 3-way classification head (float32, safetensors)."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the head is new on purpose: no "newly initialized" notice
    try:
        with quiet_load("an encoder", folder):
            model = AutoModelForSequenceClassification.from_pretrained(
                str(folder), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
                label2id={name: i for i, name in enumerate(LABELS)}, dtype=torch.float32,
                local_files_only=True, trust_remote_code=False, use_safetensors=True)
    finally:
        hf_logging.set_verbosity(level)
    return model.to(device)


def longest_pair(tokenizer: Any, model: Any, wanted: int) -> int:
    """``wanted`` tokens, or fewer where the encoder's positions or tokenizer stop earlier."""
    limits = [wanted, getattr(model.config, "max_position_embeddings", None) or wanted,
              getattr(tokenizer, "model_max_length", None) or wanted]
    return int(min(limits))


def encode_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str]],
                 max_length: int) -> list[list[int]]:
    """Token ids of each (premise, hypothesis), cut to ``max_length`` from the premise's end."""
    if not pairs:
        return []
    claims = tokenizer([h for _, h in pairs], add_special_tokens=False)["input_ids"]
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True) - _MIN_PREMISE_TOKENS
    encoded: list[list[int]] = [[] for _ in pairs]
    for strategy, fits in (("only_first", True), ("longest_first", False)):
        rows = [i for i, claim in enumerate(claims) if (len(claim) <= room) == fits]
        if rows:
            ids = tokenizer([pairs[i][0] for i in rows], [pairs[i][1] for i in rows],
                            truncation=strategy, max_length=max_length)["input_ids"]
            for row, row_ids in zip(rows, ids):
                encoded[row] = list(row_ids)
    return encoded


class NliModel:
    """Probabilities of entailment, neutral and contradiction for (premise, hypothesis) pairs."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int, batch_size: int = 16):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = max(1, batch_size)

    @classmethod
    def load(cls, adapter: Path, base: Path, options: NliOptions | None = None) -> NliModel:
        """Load ``base`` (an encoder or sentence-transformers folder) with the NLI ``adapter``.

        Raises AdapterFolderError for a folder that is not a readable NLI adapter
        and AdapterMismatchError for one trained on another base.
        """
        options = options or NliOptions()
        manifest = _nli_manifest(Path(adapter))
        folder = encoder_folder(base)
        fingerprint = folder_fingerprint(folder)
        check_base(manifest, fingerprint, Path(adapter))  # before the weights are read
        tokenizer = load_pair_tokenizer(folder)
        model = attach_adapter(load_classifier(folder, options.device), Path(adapter),
                               base_fingerprint=fingerprint)
        trained = (manifest.get("hyperparameters") or {}).get("max_length") or DEFAULT_MAX_LENGTH
        length = longest_pair(tokenizer, model, options.max_length or trained)
        return cls(model, tokenizer, length, options.batch_size)

    def scores(self, pairs: list[tuple[str, str]]) -> list[dict[str, float]]:
        """One {entailment, neutral, contradiction} probability dict per (premise, hypothesis)."""
        ids = encode_pairs(self.tokenizer, pairs, self.max_length)
        # Batches of similar lengths pad less; results go back in the callers' order.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        results: list[dict[str, float]] = [{} for _ in ids]
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            for row, probabilities in zip(rows, self._probabilities([ids[i] for i in rows])):
                results[row] = dict(zip(LABELS, probabilities))
        return results

    def _probabilities(self, batch: list[list[int]]) -> list[list[float]]:
        import torch

        device = next(self.model.parameters()).device
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            mask[row, :len(ids)] = 1
        with torch.inference_mode():
            logits = self.model(input_ids=input_ids.to(device),
                                attention_mask=mask.to(device)).logits
        return torch.softmax(logits.double(), dim=-1).tolist()


def _nli_manifest(adapter: Path) -> dict[str, Any]:
    info = inspect_adapter(adapter)
    if str(info.task_type or "").upper() != "SEQ_CLS":
        raise AdapterFolderError(f"adapter {adapter} is a {info.task_type or 'untyped'} adapter, "
                                 "not an NLI classifier (SEQ_CLS)")
    manifest = read_manifest(info.path) or {}
    if manifest.get("task", "nli") != "nli" or tuple(manifest.get("labels", LABELS)) != LABELS:
        raise AdapterFolderError(f"adapter {adapter} is not a Lira NLI adapter "
                                 f"(task {manifest.get('task')}, labels {manifest.get('labels')})")
    return manifest

