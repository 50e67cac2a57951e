"""From a claim's signals to its verdict and score, and from claims to the answer's score.

The rules, in order:

1. *Relevance* ``r`` says how much the evidence window is about the claim: the
   weighted mean of content-word alignment and the embedding similarity
   rescaled from [sim_floor, sim_ceiling] to [0, 1] (alignment alone when no
   embedder is given).
2. The claim's *score* (how likely it is supported) starts as a logistic of
   ``r``: 0.5 at ``midpoint``.  Each fact found only elsewhere in the sources
   multiplies it by ``elsewhere_factor``; each fact the sources do not state
   by ``absent_factor``; a negation the window does not back by
   ``unbacked_factor``.
3. With an NLI model the score becomes ``(1 - w) * score + w * P(entailment)``
   with ``w = nli_weight * (1 - alignment)``: the entailment model speaks
   where the wording does not settle the matter.  A claim worded as its
   evidence is judged by its facts; one in other words leans on entailment.
4. A claim with an absent fact is never supported: its score is held below
   0.5 (an unverifiable number or name is the hallucination we look for).
5. *Contradicted*: the window is about the claim (``r >= on_topic``) and a
   fact differs from the window's value in the same slot, or a word's
   negation differs, or the NLI model's top label is contradiction with
   P >= ``nli_contradiction`` on a claim not worded as its evidence
   (alignment < ``nli_vote_below``).  The score is then at most
   ``contradiction_cap``.

Rules 3 and 5 were fitted on the even-numbered XQuAD articles of
bench/claims.py's sets and checked on the odd ones: with a flat weight of 0.5
and an unconditional vote, the bundled NLI adapter called 46 of 224 supported,
near-verbatim claims contradictions (ROC-AUC 0.997 without NLI fell to 0.902);
with these rules it adds a little (0.998 with, 0.997 without).
6. Otherwise *supported* when the score is >= 0.5, else *unsupported*.

The answer's score is the mean over its claims of 1 for a supported claim and
the claim's own score otherwise: 1.0 for a fully supported answer, falling by
(1 - score) / n with each unsupported or contradicted claim, and further for a
contradiction (low score) than for a near miss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from assistant.grounding.fact_check import FactCheck
from assistant.grounding.nli import CONTRADICTION, ENTAILMENT

SUPPORTED, CONTRADICTED, UNSUPPORTED = "supported", "contradicted", "unsupported"
VERDICTS = (SUPPORTED, CONTRADICTED, UNSUPPORTED)
# An answer scoring this or more is well supported: the chat's badge turns green here
# (assistant/tui/widgets/chat_log.py), and an answer's statement is supported from here.
WELL_SUPPORTED = 0.8


@dataclass(frozen=True)
class GroundingConfig:
    """The checker's thresholds and weights (defaults measured on bench/claims.py)."""

    candidates: int = 4  # sentences per claim (and half as many pairs) compared by embedding
    sim_floor: float = 0.80  # e5 cosine of unrelated Russian sentences sits near here
    sim_ceiling: float = 0.95
    align_weight: float = 0.6
    sim_weight: float = 0.4
    pair_penalty: float = 0.05  # a two-sentence window must beat one sentence by this
    cited_bonus: float = 0.05  # windows of the sources the claim cites come first on ties
    facts_bonus: float = 0.1  # times the share of the claim's facts a window states
    on_topic: float = 0.4
    midpoint: float = 0.55
    steepness: float = 10.0
    elsewhere_factor: float = 0.85
    absent_factor: float = 0.5
    unbacked_factor: float = 0.5
    absent_cap: float = 0.45
    nli_weight: float = 0.5  # times (1 - alignment)
    nli_contradiction: float = 0.5
    nli_vote_below: float = 0.9  # alignment under which the NLI model may call a contradiction
    contradiction_cap: float = 0.15


@dataclass
class Signals:
    """Everything measured for one claim against its evidence window."""

    alignment: float
    similarity: float | None  # cosine, None without an embedder
    relevance: float
    facts: FactCheck
    negation: list[str]  # stems whose negation differs
    unbacked_negation: bool
    nli: dict[str, float] | None = None

    def to_dict(self) -> dict:
        return {"alignment": round(self.alignment, 4),
                "similarity": None if self.similarity is None else round(self.similarity, 4),
                "relevance": round(self.relevance, 4), "facts": self.facts.to_dict(),
                "negation": self.negation, "unbacked_negation": self.unbacked_negation,
                "nli": self.nli}


def relevance(alignment: float, similarity: float | None, config: GroundingConfig) -> float:
    """Rule 1: how much a window is about the claim, in [0, 1]."""
    if similarity is None:
        return alignment
    span = config.sim_ceiling - config.sim_floor
    sim = min(1.0, max(0.0, (similarity - config.sim_floor) / span))
    total = config.align_weight + config.sim_weight
    return (config.align_weight * alignment + config.sim_weight * sim) / total


def decide(signals: Signals, config: GroundingConfig) -> tuple[str, float]:
    """Rules 2-6: the claim's verdict and score."""
    facts = signals.facts
    score = 1 / (1 + math.exp(-config.steepness * (signals.relevance - config.midpoint)))
    score *= config.elsewhere_factor ** len(facts.elsewhere)
    score *= config.absent_factor ** len(facts.absent)
    if signals.unbacked_negation:
        score *= config.unbacked_factor
    if signals.nli is not None:
        weight = config.nli_weight * (1 - signals.alignment)
        score = (1 - weight) * score + weight * signals.nli[ENTAILMENT]
    if facts.absent:
        score = min(score, config.absent_cap)
    if _contradicted(signals, config):
        return CONTRADICTED, min(score, config.contradiction_cap)
    return (SUPPORTED if score >= 0.5 else UNSUPPORTED), score


def _contradicted(signals: Signals, config: GroundingConfig) -> bool:
    if signals.relevance < config.on_topic:
        return False
    return bool(signals.facts.differs or signals.negation or _nli_contradicts(signals, config))


def _nli_contradicts(signals: Signals, config: GroundingConfig) -> bool:
    nli = signals.nli
    if nli is None or signals.alignment >= config.nli_vote_below:
        return False
    return nli[CONTRADICTION] >= config.nli_contradiction and \
        nli[CONTRADICTION] == max(nli.values())


def answer_score(verdicts: list[tuple[str, float]]) -> float:
    """The answer's score from its claims' (verdict, score) pairs (1.0 when none)."""
    if not verdicts:
        return 1.0
    return sum(1.0 if v == SUPPORTED else s for v, s in verdicts) / len(verdicts)
