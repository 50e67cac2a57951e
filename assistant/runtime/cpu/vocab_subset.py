"""Restricting a causal LM's output layer to the tokens Russian text needs.

Gemma 3's 262,144-token output layer is two thirds of a decode step's
arithmetic and reads 671 MB of weights per token on a CPU, for a vocabulary
that is mostly scripts a Russian chat never writes.  A subset (the tokens a
Russian corpus uses, every single-character Cyrillic/ASCII token, the 256
byte tokens and the special tokens, so that any text can still be spelled) is
chosen once from a corpus (``bench/vocab_subset.py``) and shipped in
``assistant/runtime/cpu/vocab`` keyed by a digest of the tokenizer's vocabulary; it only
applies to a tokenizer with that exact vocabulary.  Logits outside the subset
are -inf, so greedy decoding and sampling never pick them, and the logits
processors (repetition penalty and so on) see a full-size vocabulary.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

VOCAB_DIR = Path(__file__).resolve().parent / "vocab"
_BASIC = re.compile(r"^[\u0400-\u04FF\x20-\x7E«»—–…№“”„’‘°\s]$")
_CYRILLIC = re.compile(r"^[\u0400-\u04FF ]+$")
_NO_LETTERS = re.compile(r"^[\d\s\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E«»—–…№“”„’‘°]+$")
_LATIN = re.compile(r"^[\x20-\x7E]+$")


def vocabulary_digest(tokenizer: Any) -> str:
    """sha256 of the tokenizer's pieces in id order: the subset fits this vocabulary only."""
    return pieces_digest(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))


def pieces_digest(pieces: list) -> str:
    """sha256 of a vocabulary's pieces in id order."""
    return hashlib.sha256("\n".join(map(str, pieces)).encode("utf-8")).hexdigest()


def build_subset(tokenizer: Any, texts: Iterable[str], min_count: int = 1,
                 latin_below: int = 30_000) -> list[int]:
    """The output tokens Russian text needs.

    Every token of ``texts`` seen ``min_count`` times; every all-Cyrillic token; every
    token without letters (digits, punctuation, spaces); Latin tokens among the first
    ``latin_below`` ids (SentencePiece gives the common ones low ids: names, brands,
    English terms a Russian text quotes); single characters, bytes and special tokens,
    so that anything left out can still be spelled.
    """
    counts: Counter[int] = Counter()
    for text in texts:
        counts.update(tokenizer(text, add_special_tokens=False)["input_ids"])
    keep = {i for i, n in counts.items() if n >= min_count}
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    for token_id, piece in enumerate(pieces):
        if _needed(str(piece), token_id, latin_below):
            keep.add(token_id)
    keep.update(tokenizer.all_special_ids)
    return sorted(keep)


def _needed(piece: str, token_id: int, latin_below: int) -> bool:
    bare = piece.replace("▁", " ")
    return bool(piece.startswith("<0x")  # byte fallback
                or (len(bare) == 1 and _BASIC.match(bare))
                or _CYRILLIC.match(bare) or _NO_LETTERS.match(bare)
                or (token_id < latin_below and _LATIN.match(bare)))


def save_subset(ids: list[int], tokenizer: Any, about: dict[str, Any]) -> Path:
    """Write the subset for this tokenizer into VOCAB_DIR; returns the file."""
    digest = vocabulary_digest(tokenizer)
    VOCAB_DIR.mkdir(exist_ok=True)
    path = VOCAB_DIR / f"{digest[:16]}.json.gz"
    record = {"vocabulary_sha256": digest, "vocabulary_size": len(tokenizer), "about": about,
              "ids": ids}
    path.write_bytes(gzip.compress(json.dumps(record).encode("utf-8"), mtime=0))
    return path


def load_subset(tokenizer: Any) -> list[int] | None:
    """The shipped subset for this tokenizer's vocabulary, or None when there is none."""
    return subset_for_digest(vocabulary_digest(tokenizer))


def subset_for_digest(digest: str) -> list[int] | None:
    """The shipped subset for the vocabulary of this pieces_digest, or None."""
    path = VOCAB_DIR / f"{digest[:16]}.json.gz"
    if not path.is_file():
        return None
    record = json.loads(gzip.decompress(path.read_bytes()))
    return record["ids"] if record.get("vocabulary_sha256") == digest else None


def restrict_output_layer(model: Any, ids: list[int], int8: bool = False,
                          folder: Any = None) -> bool:
    """Give ``model`` an output layer over ``ids`` only (int8 rows, best logits rescored in
    float32, with ``int8``; see RestrictedHead); False when the model cannot take one.
    ``folder``: the model's folder, whose safetensors files the int8 rows are read from
    when they hold the head's exact weight (assistant.runtime.cpu.file_rows)."""
    import torch

    from assistant.runtime.cpu.restricted_head import RestrictedHead

    config = getattr(model, "config", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if (head is None or not isinstance(head, torch.nn.Linear)
            or getattr(config, "final_logit_softcapping", None)):
        return False  # soft-capping would turn -inf into a finite logit
    read_rows = None
    if int8 and folder is not None:
        from assistant.runtime.cpu.file_rows import row_reader

        read_rows = row_reader(folder, head.weight)
    model.set_output_embeddings(RestrictedHead(head, ids, int8, read_rows))
    return True
