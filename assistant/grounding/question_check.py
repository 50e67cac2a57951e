"""Judging an answer's statement (question_claim.py) against the sources.

The evidence must say the answer *about the question's subject*: the windows
are ranked by how much they are about the question (its content words and
names aligned, and the embedding similarity of the question to the window),
and the answer's focus (its own words and figures) must stand in such a
window.  The signals:

- ``relevance``: how much the chosen window is about the question (rule 1 of
  scoring.py, on the question without its question word);
- ``focus``: the share of the focus's words and figures the window states;
- ``top_focus``: the focus share in the window most about the question (an
  answer found only in a side window is weaker);
- ``entailment`` / ``contradiction``: the NLI model on (window, statement);
- ``mismatch``: the answer is of a kind the question word rules out (a bare
  figure for "где", "кто" or "почему", no figure for "сколько", no year or
  date for "когда").

- ``confidence``: the chat model's mean log-probability of the answer
  (confidence.py), when it was measured;
- ``reordered``: how much the chat model's answer over the passages in reverse
  order agrees with it (token F1, confidence.py), measured with the confidence.

The score is a logistic of them with weights fitted on the answers of XQuAD
articles 24-29 (see QuestionConfig); the statement is supported when it
reaches ``supported_at``, the chat badge's green line.  When the window most
about the question states a value of the focus's kind in place of the
focus's own (another year, another number), it is contradicted (the 4 such
tuning answers were all wrong).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from assistant.grounding.alignment import align
from assistant.grounding.fact_check import FactView
from assistant.grounding.nli import CONTRADICTION, ENTAILMENT
from assistant.grounding.question_claim import QuestionClaim
from assistant.grounding.scoring import (
    CONTRADICTED,
    SUPPORTED,
    UNSUPPORTED,
    WELL_SUPPORTED,
    GroundingConfig,
    relevance,
)
from assistant.grounding.similarity import Similarity
from assistant.grounding.sources import Corpus, Window
from assistant.grounding.views import TextView, analyse

_FIGURES = frozenset({"number", "percent", "year", "date", "month"})
_NOT_FIGURES = frozenset({"где", "куда", "откуда", "кто", "кого", "кому", "кем", "почему",
                          "зачем"})
_COUNTS = frozenset({"сколько", "скольких", "скольким", "сколькими"})
_TIMES = frozenset({"когда"})
_TIME_KINDS = frozenset({"year", "date", "month"})


# When the NLI model is left out its inputs take their mean on the tuning answers.
_NO_NLI = {"entailment": 0.6, "contradiction": 0.08}
_NO_AGREEMENT = 0.6  # the same for the reordered agreement, when it was not measured


@dataclass(frozen=True)
class QuestionConfig:
    """Weights of the statement's score: a logistic of StatementSignals.features().

    Fitted on the answers to XQuAD articles 24-29 (bench/answer_badge.py --fit),
    with the chat model's confidence and without it (a model on a server, a
    GGUF one, or `lira check --no-confidence`), the intercepts set so that 85%
    of the right tuning answers reach ``supported_at``.  ``mismatch`` is a rule,
    not fitted: too few tuning answers were of a kind their question rules out.
    """

    candidates: int = 6  # windows most about the question that are looked at
    with_confidence: tuple[tuple[str, float], ...] = (
        ("intercept", 0.565), ("relevance", 0.0), ("focus", 0.556), ("top_focus", 0.313),
        ("entailment", 0.0), ("contradiction", 0.0), ("mismatch", -3.0), ("confidence", 1.112),
        ("reordered", 1.409))
    # relevance and the NLI model got weights of the wrong sign on the tuning answers (their
    # ROC-AUC there 0.52 and 0.51): they are measured and shown, and weigh nothing
    without_confidence: tuple[tuple[str, float], ...] = (
        ("intercept", 0.318), ("relevance", 0.0), ("focus", 1.068), ("top_focus", 0.29),
        ("entailment", 0.0), ("contradiction", 0.0), ("mismatch", -3.0))
    supported_at: float = WELL_SUPPORTED
    contradiction_cap: float = GroundingConfig.contradiction_cap


@dataclass(frozen=True)
class AnswerReading:
    """The chat model's reading of its answer (confidence.read_answer): mean log-probability
    and agreement with its answer over the passages reordered."""

    log_prob: float | None
    reordered: float | None = None


@dataclass
class StatementSignals:
    """What was measured for a statement against its evidence window."""

    relevance: float
    focus: float
    top_focus: float
    mismatch: bool
    rival: bool  # the window most about the question has another value of the focus's kind
    entailment: float | None = None
    contradiction: float | None = None
    confidence: float | None = None  # the chat model's mean log-probability of the answer
    reordered: float | None = None  # token F1 of its answer over the passages reordered

    def read(self, reading: AnswerReading | None) -> None:
        """Take the chat model's reading of the answer (None: not read)."""
        if reading is not None:
            self.confidence, self.reordered = reading.log_prob, reading.reordered

    def features(self) -> dict[str, float]:
        """The inputs of the score (the chat model's reading only when its confidence was
        measured; an agreement not measured takes a typical value)."""
        values = {"relevance": self.relevance, "focus": self.focus, "top_focus": self.top_focus,
                  "entailment": _NO_NLI["entailment"] if self.entailment is None
                  else self.entailment,
                  "contradiction": _NO_NLI["contradiction"] if self.contradiction is None
                  else self.contradiction,
                  "mismatch": float(self.mismatch)}
        if self.confidence is None:
            return values
        return values | {"confidence": self.confidence,
                         "reordered": _NO_AGREEMENT if self.reordered is None else self.reordered}

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}


@dataclass(frozen=True)
class _Question:
    topic: TextView
    stems: list[str]  # the topic's content words and names
    focus: TextView
    focus_stems: list[str]
    focus_facts: list
    asked_word: str


def statement_evidence(claim: QuestionClaim, corpus: Corpus, similarity: Similarity | None,
                       config: GroundingConfig, qconfig: QuestionConfig
                       ) -> tuple[Window | None, Window | None, StatementSignals]:
    """The window that best states the focus about the question, the window most about
    the question (the evidence shown when the statement is not supported: what the
    sources say about that subject), and the signals."""
    q = _question(claim, corpus)
    ranked = sorted(corpus.windows, key=lambda w: _topic_align(q, w), reverse=True)
    pool = ranked[:qconfig.candidates]
    if not pool:
        return None, None, StatementSignals(0.0, 0.0, 0.0, _mismatch(q), False)
    if similarity is not None:
        similarity.prefetch([q.topic.text] + [w.text for w in pool])
    rel = [relevance(_topic_align(q, w), similarity.cosine(q.topic.text, w.text)
                     if similarity is not None else None, config) for w in pool]
    focus = [_best_focus(q, w, corpus) for w in pool]
    top = max(range(len(pool)), key=lambda i: rel[i])
    best = max(range(len(pool)), key=lambda i: rel[i] * (0.5 + focus[i]))
    rival = focus[top] < 1.0 and _rival(q, pool[top].view.facts)
    return pool[best], pool[top], StatementSignals(rel[best], focus[best], focus[top],
                                                   _mismatch(q), rival)


def decide_statement(signals: StatementSignals, qconfig: QuestionConfig) -> tuple[str, float]:
    """The statement's verdict and score."""
    features = signals.features()
    weights = dict(qconfig.with_confidence if "confidence" in features
                   else qconfig.without_confidence)
    z = weights["intercept"] + sum(weights[name] * value for name, value in features.items())
    score = 1 / (1 + math.exp(-z))
    if signals.rival:  # the window most about the question gives another value
        return CONTRADICTED, min(score, qconfig.contradiction_cap)
    if score >= qconfig.supported_at:
        return SUPPORTED, score
    return UNSUPPORTED, score


def add_entailment(signals: StatementSignals, probs: dict[str, float]) -> None:
    """Record the NLI model's view of (window, statement)."""
    signals.entailment, signals.contradiction = probs[ENTAILMENT], probs[CONTRADICTION]


def _question(claim: QuestionClaim, corpus: Corpus) -> _Question:
    topic = analyse([claim.topic], corpus.known_names)
    focus = analyse([claim.focus], corpus.known_names)
    names = [f.value for f in topic.facts.facts if f.kind == "name"]
    focus_names = [f.value for f in focus.facts.facts if f.kind == "name"]
    return _Question(topic, list(dict.fromkeys([*topic.content, *names])), focus,
                     list(dict.fromkeys([*focus.content, *focus_names])),
                     [f for f in focus.facts.facts if f.kind in _FIGURES], claim.asked)


def _topic_align(q: _Question, window: Window) -> float:
    if not q.stems:
        return 0.0
    return align(q.stems, window.view.stems, window.view.prefixes).share


def _best_focus(q: _Question, window: Window, corpus: Corpus) -> float:
    """The focus share where it must stand in ``window``: in a pair whose one sentence
    alone holds all the question's words, in that sentence ("56" is Норман's figure only
    in his own sentence, not in the next one about another player)."""
    return _focus_share(q, corpus.holder(window, lambda part: _topic_align(q, part),
                                         lambda part: _focus_share(q, part)))


def _focus_share(q: _Question, window: Window) -> float:
    """The share of the focus's words and figures the window states."""
    found = align(q.focus_stems, window.view.stems, window.view.prefixes) if q.focus_stems else None
    hits = (len(q.focus_stems) - len(found.missing)) if found else 0
    hits += sum(map(window.view.facts.states, q.focus_facts))
    total = len(q.focus_stems) + len(q.focus_facts)
    return hits / total if total else 0.0


def _rival(q: _Question, window: FactView) -> bool:
    """The window states a figure of a focus figure's kind that the focus lacks."""
    return any(other.kind == fact.kind and not q.focus.facts.states(other)
               for fact in q.focus_facts if not window.states(fact) for other in window.facts)


def _mismatch(q: _Question) -> bool:
    kinds = {f.kind for f in q.focus_facts}
    bare_figure = bool(kinds) and not q.focus_stems
    if q.asked_word in _NOT_FIGURES:
        return bare_figure and not kinds <= {"month"}
    if q.asked_word in _COUNTS:
        return not kinds & {"number", "percent"}
    if q.asked_word in _TIMES:
        return not kinds & _TIME_KINDS
    return False
