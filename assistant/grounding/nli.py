"""The entailment (NLI) interface, and a loader for Hub-style classification models.

An entailment scorer reads (premise, hypothesis) pairs, the evidence and the
claim, and gives each pair probabilities for the three labels.  Anything with
a ``scores`` method fits: Lira's own cross-encoder adapter plugs in here, and
so does any sequence-classification NLI model folder a user points to, whose
``id2label`` names are mapped onto the three labels (a two-way
entailment/not-entailment model puts its second label on "neutral").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from assistant.grounding.errors import GroundingError
from assistant.runtime import compute
from assistant.runtime.loading import pick_device
from assistant.runtime.models import resolve

ENTAILMENT, NEUTRAL, CONTRADICTION = "entailment", "neutral", "contradiction"
LABELS = (ENTAILMENT, NEUTRAL, CONTRADICTION)

# Label names seen in NLI model configs (English and Russian), checked in this order:
# "not_entailment" must be read before "entailment" matches its tail.
_NAMES = (("not_", NEUTRAL), ("non_", NEUTRAL), ("non-", NEUTRAL), ("entail", ENTAILMENT), ("следов", ENTAILMENT),
          ("contrad", CONTRADICTION), ("противореч", CONTRADICTION), ("neutral", NEUTRAL),
          ("нейтрал", NEUTRAL))


@runtime_checkable
class EntailmentScorer(Protocol):
    """Scores (premise, hypothesis) pairs with entailment/neutral/contradiction probabilities."""

    def scores(self, pairs: list[tuple[str, str]]) -> list[dict[str, float]]:
        """One {label: probability} dict per pair, over LABELS, summing to 1."""
        ...


def map_labels(id2label: dict[Any, str]) -> dict[int, str]:
    """Each class index of a model mapped to one of LABELS."""
    mapping: dict[int, str] = {}
    for index, name in id2label.items():
        folded = name.lower().replace(" ", "_")
        label = next((lab for key, lab in _NAMES if key in folded), None)
        if label is None:
            raise GroundingError(f"the NLI model's label '{name}' is not entailment, neutral or "
                                 "contradiction; set id2label in its config.json")
        mapping[int(index)] = label
    if ENTAILMENT not in mapping.values():
        raise GroundingError("the NLI model has no entailment label; set id2label in its "
                             "config.json (e.g. 0: entailment, 1: neutral, 2: contradiction)")
    return mapping


class ClassifierNLI:
    """A transformers sequence-classification NLI model used as a cross-encoder."""

    def __init__(self, path: Path, device: str = "cpu", batch_size: int = 16,
                 max_length: int = 512):
        self.path, self.batch_size, self.max_length = Path(path), batch_size, max_length
        self.tokenizer, self.model = compute.run(_load_classifier, self.path, device)
        self.labels = map_labels(self.model.config.id2label)

    def scores(self, pairs: list[tuple[str, str]]) -> list[dict[str, float]]:
        if not pairs:
            return []
        return compute.run(self._scores, pairs)

    def _scores(self, pairs: list[tuple[str, str]]) -> list[dict[str, float]]:
        import torch

        out: list[dict[str, float]] = []
        for i in range(0, len(pairs), self.batch_size):
            batch = pairs[i:i + self.batch_size]
            encoded = self.tokenizer([p for p, _ in batch], [h for _, h in batch],
                                     truncation="only_first", max_length=self.max_length,
                                     padding=True, return_tensors="pt").to(self.model.device)
            with torch.inference_mode():
                probs = self.model(**encoded).logits.float().softmax(-1).cpu().tolist()
            out += [self._by_label(row) for row in probs]
        return out

    def _by_label(self, row: list[float]) -> dict[str, float]:
        merged = dict.fromkeys(LABELS, 0.0)
        for index, p in enumerate(row):
            merged[self.labels[index]] += p
        return merged


def load_nli(reference: str, settings) -> EntailmentScorer:
    """An entailment scorer from a model folder, a cached Hub id or a bundled name."""
    path = resolve(reference, settings)
    if not (path / "config.json").is_file():
        raise GroundingError(f"{path} has no config.json; give a sequence-classification NLI "
                             "model folder")
    return ClassifierNLI(path, pick_device(settings.device))


def _load_classifier(path: Path, device: str):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True,
                                                  trust_remote_code=False)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise GroundingError(f"cannot load an NLI classifier from {path} ({exc}); "
                             "give a sequence-classification model folder") from exc
    return tokenizer, model.to(device).eval()
