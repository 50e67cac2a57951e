"""Measuring an adapter on what its training held out: grounded answers and poems.

Both halves generate with the product's own generator and presets, so the
figures describe what a user gets; they are computed the same way for the
base model without the adapter, which is the comparison that matters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.data_poems import Poem
from adapters.data_squad import HeldOutQuestion
from assistant.evals.answer_metrics import cited_numbers, exact_match, strip_citations, token_f1
from assistant.evals.chrf import chrf_report
from assistant.evals.gen_metrics import overlap_scores
from assistant.evals.poem_metrics import distinct_n, line_count_ratio, self_stop_rate
from assistant.grounding.answer_overlap import first_line
from assistant.runtime import compute
from assistant.runtime.generation import Generator
from assistant.runtime.presets import PRESETS, Preset

Tick = Callable[[], None]
# Answers are short: a cited phrase.  The first line is the answer; the rest is rambling.
ANSWER_PRESET = PRESETS["answer"].with_overrides(max_new_tokens=64)


@dataclass(frozen=True)
class ScoredRun:
    """The records of one run (one per item) and the figures over them."""

    records: list[dict[str, Any]]
    scores: dict[str, Any]


def answer_questions(generator: Generator, items: Sequence[HeldOutQuestion],
                     preset: Preset = ANSWER_PRESET, tick: Tick | None = None) -> ScoredRun:
    """Answer every held-out question and score EM, token F1, chrF++ and citations."""
    records = []
    for item in items:
        generation = generator.generate(item.prompt, preset)
        answer = first_line(generation.text)
        records.append({"question": item.question, "answers": list(item.answers),
                        "prediction": answer, "gold_passage": item.cited,
                        "cited": cited_numbers(answer), "article": item.article,
                        "exact_match": exact_match(answer, item.answers),
                        "f1": token_f1(answer, item.answers)})
        if tick:
            tick()
    return ScoredRun(records, score_answers(records))


def score_answers(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """EM and F1 (0-100, SQuAD-style); chrF++, BLEU, ROUGE and METEOR against the first gold
    answer; citations."""
    n = len(records)
    predictions = [strip_citations(r["prediction"]) for r in records]
    golds = [r["answers"][0] for r in records]
    chrf = chrf_report(predictions, golds)
    return {"n": n,
            "exact_match": round(100 * sum(r["exact_match"] for r in records) / n, 2),
            "f1": round(100 * sum(r["f1"] for r in records) / n, 2),
            "chrf": chrf["corpus"], **overlap_scores(predictions, golds),
            "cites_gold_passage": round(sum(r["gold_passage"] in r["cited"] for r in records) / n, 4),
            "cites_anything": round(sum(bool(r["cited"]) for r in records) / n, 4)}


def write_poems(generator: Generator, poems: Sequence[Poem], prompt_for: Callable[[Poem], str],
                preset: Preset = PRESETS["poem"], seed: int = 0,
                tick: Tick | None = None) -> ScoredRun:
    """Generate a poem for each held-out (author, title), each with its own fixed seed."""
    records = []
    for number, poem in enumerate(poems):
        compute.run(_seed_everything, seed + number)
        generation = generator.generate(prompt_for(poem), preset)
        records.append({"author": poem.author, "title": poem.title, "reference": poem.text,
                        "poem": generation.text.strip(), "stopped_by": generation.stats.stopped_by,
                        "new_tokens": generation.stats.new_tokens})
        if tick:
            tick()
    return ScoredRun(records, score_poems(records))


def score_poems(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """chrF++ (and BLEU, ROUGE, METEOR) against the originals, self-stop rate, line-count
    ratio and distinct-1/2."""
    poems, references = [r["poem"] for r in records], [r["reference"] for r in records]
    chrf = chrf_report(poems, references)
    ratios = [line_count_ratio(r["poem"], r["reference"]) for r in records]
    return {"n": len(records), "chrf": chrf["corpus"],
            "chrf_mean_sentence": round(sum(chrf["sentences"]) / len(records), 2),
            **overlap_scores(poems, references),
            "self_stop_rate": round(self_stop_rate([r["stopped_by"] for r in records]), 4),
            "line_count_ratio": round(sum(ratios) / len(ratios), 3),
            "distinct_1": round(distinct_n(poems, 1), 4),
            "distinct_2": round(distinct_n(poems, 2), 4),
            "normalisation": chrf["normalisation"]}


def _seed_everything(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)
