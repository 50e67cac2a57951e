"""Grounding checks: is each sentence of an answer supported by its sources?

``check_answer(answer, sources, embedder, nli)`` returns a GroundingReport
whose ``to_dict()`` is ``{"score", "sentences": [{"text", "verdict", "score",
"evidence": {"source", "text"}}]}``.  Modules by job: claims (sentence
splitting), words (stems, stop words), quantities and facts (numbers, dates,
names, quotations), fact_check, negation, alignment, similarity (embeddings),
nli (the entailment interface), scoring (the rules), sources (evidence
windows), checker (all of it together), report (the result).
"""

from assistant.grounding.checker import check_answer, check_claims
from assistant.grounding.errors import GroundingError
from assistant.grounding.nli import EntailmentScorer, load_nli
from assistant.grounding.report import ClaimVerdict, Evidence, GroundingReport
from assistant.grounding.scoring import (
    CONTRADICTED,
    SUPPORTED,
    UNSUPPORTED,
    VERDICTS,
    GroundingConfig,
)
from assistant.grounding.sources import SourceText

__all__ = ["CONTRADICTED", "SUPPORTED", "UNSUPPORTED", "VERDICTS", "ClaimVerdict",
           "EntailmentScorer", "Evidence", "GroundingConfig", "GroundingError",
           "GroundingReport", "SourceText", "check_answer", "check_claims", "load_nli"]
