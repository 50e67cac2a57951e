"""`lira eval check`: the grounding checker measured on labelled claims.

Each line of the claims file is ``{"claim", "sources": [text, ...], "label"}``
with label supported, contradicted or unsupported.  ROC-AUC ranks supported
claims against the other two by the checker's claim score; accuracy is of the
three-way verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from assistant.engine import Engine
from assistant.grounding.checker import check_claims
from assistant.grounding.claims import Claim
from assistant.grounding.errors import GroundingError
from assistant.grounding.inputs import read_text
from assistant.grounding.scoring import SUPPORTED, VERDICTS
from assistant.grounding.similarity import as_similarity


@dataclass
class LabelledClaim:
    """A claim, the texts it is checked against, and its gold verdict."""

    claim: str
    sources: list[str]
    label: str


def read_claims(path: Path) -> list[LabelledClaim]:
    """Labelled claims from a JSONL file; a bad line is a one-line error naming it."""
    items = []
    for number, line in enumerate(read_text(path, "claims").splitlines(), 1):
        if line.strip():
            items.append(_parse(line, f"{path}:{number}"))
    if not items:
        raise GroundingError(f"{path} holds no claims; write one JSON object per line")
    return items


def _parse(line: str, where: str) -> LabelledClaim:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise GroundingError(f"{where} is not JSON ({exc.msg})") from None
    if not isinstance(row, dict) or not isinstance(row.get("claim"), str) or \
            not isinstance(row.get("sources"), list) or \
            not all(isinstance(s, str) for s in row["sources"]):
        raise GroundingError(f"{where}: need \"claim\" (text), \"sources\" (list of texts) "
                             "and \"label\"")
    if row.get("label") not in VERDICTS:
        raise GroundingError(f"{where}: label must be one of {', '.join(VERDICTS)}, "
                             f"not {row.get('label')!r}")
    return LabelledClaim(row["claim"], row["sources"], row["label"])


def judge_claims(items: list[LabelledClaim], embedder=None, nli=None, config=None) -> list:
    """A ClaimVerdict for each labelled claim (the claim is judged whole, not split)."""
    from tqdm import tqdm

    similarity = as_similarity(embedder)  # one cache: claims share their paragraphs
    return [check_claims([Claim(item.claim)], item.sources, similarity, nli,
                         config).sentences[0]
            for item in tqdm(items, desc="claims", unit="claim", disable=None, leave=False)]


def claim_metrics(labels: list[str], verdicts: list[str], scores: list[float]) -> dict:
    """``{"n", "roc_auc", "accuracy", "confusion", "per_class"}``.

    roc_auc is None when the gold labels are all supported or all not.
    confusion[gold][predicted] counts claims; per_class is each gold label's accuracy.
    """
    from sklearn.metrics import roc_auc_score

    n = len(labels)
    positive = [label == SUPPORTED for label in labels]
    auc = roc_auc_score(positive, scores) if 0 < sum(positive) < n else None
    confusion = {g: {p: 0 for p in VERDICTS} for g in VERDICTS}
    for gold, predicted in zip(labels, verdicts):
        confusion[gold][predicted] += 1
    per_class = {g: (confusion[g][g] / sum(confusion[g].values())
                     if sum(confusion[g].values()) else None) for g in VERDICTS}
    return {"n": n, "roc_auc": None if auc is None else round(float(auc), 4),
            "accuracy": round(sum(g == p for g, p in zip(labels, verdicts)) / n, 4),
            "confusion": confusion,
            "per_class": {g: None if a is None else round(a, 4) for g, a in per_class.items()}}


def evaluate(items: list[LabelledClaim], embedder=None, nli=None, config=None) -> tuple[dict, list]:
    """The metrics and the per-claim verdicts."""
    judged = judge_claims(items, embedder, nli, config)
    metrics = claim_metrics([i.label for i in items], [v.verdict for v in judged],
                            [v.score for v in judged])
    return metrics, judged


def run_eval_check(settings, claims: Path, nli: str | None, use_embedder: bool,
                   out: Path | None, progress=None) -> dict:
    """The `lira eval check` command: ``{"n", "roc_auc", "accuracy", "confusion"}``."""
    from assistant.evals.check_report import write_check_report
    from assistant.grounding.entailment import nli_reference

    items = read_claims(claims)
    reference = nli_reference(settings, nli)
    embedder, scorer = Engine(settings, progress).check_models(reference or "none", use_embedder)
    metrics, judged = evaluate(items, embedder, scorer)
    if out is not None:
        setup = {"claims file": str(claims),
                 "embedder": settings.embedder if use_embedder else "none",
                 "nli": reference or "none"}
        for path in write_check_report(out, metrics, items, judged, setup):
            if progress:
                progress(f"wrote {path}")
    return {key: metrics[key] for key in ("n", "roc_auc", "accuracy", "confusion")}
