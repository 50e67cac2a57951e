"""The grounding check: each claim of an answer against its sources.

For every claim the windows of the sources are ranked by content-word
alignment; the best few are compared by embedding similarity too; the most
relevant one (see scoring.py) is the evidence, against which the facts and
negations are checked and, when an NLI model is given, entailment is scored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from assistant.grounding.alignment import align
from assistant.grounding.claims import Claim, split_claims
from assistant.grounding.fact_check import check_facts
from assistant.grounding.negation import negation_mismatch, unbacked_negation
from assistant.grounding.nli import EntailmentScorer
from assistant.grounding.question_check import (
    AnswerReading,
    QuestionConfig,
    add_entailment,
    decide_statement,
    statement_evidence,
)
from assistant.grounding.question_claim import QuestionClaim, question_claim
from assistant.grounding.report import ClaimVerdict, Evidence, GroundingReport
from assistant.grounding.scoring import (
    SUPPORTED,
    GroundingConfig,
    Signals,
    answer_score,
    decide,
    relevance,
)
from assistant.grounding.similarity import Similarity, as_similarity
from assistant.grounding.slots import replaced_slots
from assistant.grounding.sources import Corpus, Window, as_sources
from assistant.grounding.views import TextView, analyse


def check_answer(answer: str, sources: Iterable[Any], embedder=None,
                 nli: EntailmentScorer | None = None,
                 config: GroundingConfig | None = None,
                 question: str | None = None,
                 reading: AnswerReading | None = None) -> GroundingReport:
    """Check every sentence of ``answer`` against ``sources``.

    ``sources``: strings, rag.Source objects, (label, text) pairs or
    SourceTexts.  ``embedder``: Lira's embedder (Engine.embedder()) or None to
    go by facts and wording alone.  ``nli``: an EntailmentScorer or None.
    Sentences with no content word and no fact ("Да.", "Вот что я нашёл:")
    state nothing to check and are left out.  With ``question``, the answer's
    first sentence is judged as the answer to it (question_check.py); a
    question with no statement form (yes/no, a list of requests) leaves the
    answer checked sentence by sentence.  ``reading``: the chat model's reading
    of the answer's first line (confidence.read_answer: its mean
    log-probability and agreement with its answer over the passages
    reordered), signals of the statement's score when given.
    """
    names = frozenset()  # a claim's first word is a name only if capitalised inside it
    claims = split_claims(answer)
    statement = question_claim(question, claims[0]) if question and claims else None
    rest = [c for c in claims[1 if statement else 0:] if _checkable(analyse([c.text], names))]
    if statement is None:
        return check_claims(rest, sources, embedder, nli, config)
    return check_statement(statement, rest, sources, embedder, nli, config,
                           reading=reading)


def check_statement(statement: QuestionClaim, claims: list[Claim], sources: Iterable[Any],
                    embedder=None, nli: EntailmentScorer | None = None,
                    config: GroundingConfig | None = None,
                    qconfig: QuestionConfig | None = None,
                    reading: AnswerReading | None = None) -> GroundingReport:
    """An answer's statement judged as the answer to its question, then its other claims.

    The answer's score is the statement's score times the other claims' score
    (1.0 when there are none or all are supported): the badge says whether the
    answer answers the question as the sources do.
    """
    config, qconfig = config or GroundingConfig(), qconfig or QuestionConfig()
    sources = as_sources(sources)
    corpus = Corpus.of(sources)
    similarity = as_similarity(embedder)
    window, about, signals = statement_evidence(statement, corpus, similarity, config, qconfig)
    signals.read(reading)
    if nli is not None and window is not None:
        add_entailment(signals, nli.scores([(window.text, statement.claim.text)])[0])
    verdict, score = decide_statement(signals, qconfig)
    window = window if verdict == SUPPORTED else about
    evidence = Evidence(window.source.label, window.text, window.source.n) if window else None
    first = ClaimVerdict(statement.claim.text, verdict, score, evidence, statement.claim.cites,
                         signals)
    others = check_claims(claims, sources, similarity, nli, config)
    return GroundingReport(score * others.score, [first, *others.sentences])


def _checkable(view: TextView) -> bool:
    return bool(view.content or view.facts.facts)


def check_claims(claims: list[Claim], sources: Iterable[Any], embedder=None,
                 nli: EntailmentScorer | None = None,
                 config: GroundingConfig | None = None) -> GroundingReport:
    """Check claims already split (see claims.split_claims), every one of them."""
    config = config or GroundingConfig()
    corpus = Corpus.of(as_sources(sources))
    similarity = as_similarity(embedder)
    judged = [(c, analyse([c.text], corpus.known_names)) for c in claims]
    pools = [_candidates(c, v, corpus, config) for c, v in judged]
    if similarity is not None:
        similarity.prefetch([c.text for c, _ in judged] + [w.text for p in pools for w in p])
    picks = [_pick(c, v, pool, corpus, similarity, config) for (c, v), pool in zip(judged, pools)]
    _add_entailment(nli, [c for c, _ in judged], picks)
    verdicts = [_verdict(c, window, signals, config)
                for (c, _), (window, signals) in zip(judged, picks)]
    return GroundingReport(answer_score([(v.verdict, v.score) for v in verdicts]), verdicts)


def _candidates(claim: Claim, view: TextView, corpus: Corpus,
                config: GroundingConfig) -> list[Window]:
    """The best windows by alignment: the top few sentences and fewer pairs (embedding
    every window of a long source would cost more than the rest of the check)."""
    def rank(window: Window) -> float:
        cited = config.cited_bonus if window.source.n in claim.cites else 0.0
        return _wording(view, window) + cited

    pool: list[Window] = []
    for size, count in ((1, config.candidates), (2, max(1, config.candidates // 2))):
        sized = [w for w in corpus.windows if w.size == size]
        pool += sorted(sized, key=rank, reverse=True)[:count]
    return pool


def _pick(claim: Claim, view: TextView, pool: list[Window], corpus: Corpus,
          similarity: Similarity | None,
          config: GroundingConfig) -> tuple[Window | None, Signals]:
    """The most relevant window and the claim's signals against it."""
    best, best_key, best_signals = None, float("-inf"), _no_evidence(view, corpus)
    for window in pool:
        signals = _signals(claim, view, window, corpus, similarity, config)
        key = signals.relevance + _preference(claim, window, signals, config)
        if key > best_key:
            best, best_key, best_signals = window, key, signals
    return best, best_signals


def _preference(claim: Claim, window: Window, signals: Signals, config: GroundingConfig) -> float:
    """Tie-breakers: single sentences, cited sources, and windows that state the claim's facts."""
    facts = signals.facts
    bonus = config.facts_bonus * len(facts.matched) / facts.total if facts.total else 0.0
    bonus += config.cited_bonus if window.source.n in claim.cites else 0.0
    return bonus - (config.pair_penalty if window.size > 1 else 0.0)


def _signals(claim: Claim, view: TextView, window: Window, corpus: Corpus,
             similarity: Similarity | None, config: GroundingConfig) -> Signals:
    # In a pair whose one sentence alone carries the claim's wording, the facts must
    # stand in that sentence: a value in the other one is said about something else.
    holder = corpus.holder(window, lambda part: _wording(view, part)).view
    facts = check_facts(view.facts, holder.facts, [whole.facts for whole in corpus.whole],
                        replaced_slots(view.words, holder.words))
    alignment = _wording(view, window)
    cosine = similarity.cosine(claim.text, window.text) if similarity is not None else None
    return Signals(alignment=alignment, similarity=cosine,
                   relevance=relevance(alignment, cosine, config), facts=facts,
                   negation=negation_mismatch(view.polarity, window.view.polarity),
                   unbacked_negation=unbacked_negation(view.polarity, window.view.polarity))


def _wording(view: TextView, window: Window) -> float:
    """Content-word alignment; for a claim of names and figures only ("Лю Бинчжун и Яо
    Шу") the share of its facts that the window states."""
    if view.content:
        return align(list(view.content), window.view.stems, window.view.prefixes).share
    facts = view.facts.facts
    return sum(map(window.view.facts.states, facts)) / len(facts) if facts else 0.0


def _no_evidence(view: TextView, corpus: Corpus) -> Signals:
    """Signals for a claim with no window to compare against: nothing supports it."""
    facts = check_facts(view.facts, analyse([]).facts, [w.facts for w in corpus.whole])
    return Signals(0.0, None, 0.0, facts, [], False)


def _add_entailment(nli: EntailmentScorer | None, claims: list[Claim],
                    picks: list[tuple[Window | None, Signals]]) -> None:
    """Score (evidence, claim) pairs with the NLI model, all in one call."""
    if nli is None:
        return
    placed = [(c, w, s) for c, (w, s) in zip(claims, picks) if w is not None]
    for (_claim, _window, signals), probs in zip(
            placed, nli.scores([(w.text, c.text) for c, w, _ in placed])):
        signals.nli = probs


def _verdict(claim: Claim, window: Window | None, signals: Signals,
             config: GroundingConfig) -> ClaimVerdict:
    verdict, score = decide(signals, config)
    evidence = Evidence(window.source.label, window.text, window.source.n) if window else None
    return ClaimVerdict(claim.text, verdict, score, evidence, claim.cites, signals)
