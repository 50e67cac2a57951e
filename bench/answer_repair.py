"""Repair instead of warning: each ``on_unsupported`` setting measured on held-out questions.

The answers are bench/answer_badge.py's (the bundled chat model and adapter over an
index of all 180 XQuAD-ru paragraphs, 4 passages per answer, cached as JSONL), on
the articles the chat adapter holds out (30-35: adapters/bundled/chat/lira-adapter.json).
Each answer is checked as `lira ask` checks it (Engine.checked: the answer to its
question, with the chat model's confidence) — that is ``mark`` — then repaired from
that check as ``drop`` (its unsupported sentences removed, the rest checked again)
and as ``retry`` (one more answer with the check's evidence windows quoted in the
prompt, checked, the better-checked one kept).  Printed for each: EM, F1 and chrF++
of the answer's first line (as `lira eval rag` scores them), the share of answers whose
every sentence is supported, the share with a green badge (of all answers, of the wrong
ones: token F1 < 0.5) and its ROC-AUC, how many answers the repair
changed, and the time it adds per answer (beyond the check every setting makes).
Results per question are kept in ``--results`` so a broken run resumes.

    nice python bench/answer_repair.py [--test 30-35] [--cache FILE] [--results FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from answer_badge import articles, generate  # noqa: E402  (the same answers and cache)

SETTINGS = ("mark", "drop", "retry")


def repaired(engine, record: dict, regenerate) -> dict:
    """One answer checked (mark) and repaired each other way: text, check and seconds."""
    from assistant.engine import Answer
    from assistant.rag import Source, cited_numbers
    from assistant.runtime.generation import GenerationStats

    sources = [Source(**s) for s in record["sources"]]
    answer = Answer(record["question"], record["answer"], sources,
                    cited_numbers(record["answer"], len(sources)), None, GenerationStats(),
                    regenerate=lambda evidence: regenerate(record["question"], sources, evidence))
    started = time.perf_counter()
    marked = engine.checked(answer, "mark")
    out = {"check_s": time.perf_counter() - started, "mark": _result(marked, 0.0)}
    for how in SETTINGS[1:]:
        started = time.perf_counter()
        result = engine.repaired(marked, how)
        out[how] = _result(result, time.perf_counter() - started)
    return out


def _result(answer, seconds: float) -> dict:
    from assistant.grounding.scoring import SUPPORTED

    check = answer.check
    return {"text": answer.text, "score": check.score if check else 1.0,
            "all_supported": bool(check and check.sentences)
            and all(s.verdict == SUPPORTED for s in check.sentences),
            "action": answer.repair.action if answer.repair else None,
            "note": answer.repair.note if answer.repair else None,
            "second": answer.repair.second if answer.repair else None, "seconds": seconds}


def summary(rows: list[dict]) -> None:
    """The table: one line per setting."""
    from assistant.evals.answer_metrics import badge_figures, exact_match, strip_citations, token_f1
    from assistant.evals.chrf import chrf_report
    from assistant.grounding.answer_overlap import first_line
    from assistant.grounding.scoring import WELL_SUPPORTED

    n = len(rows)
    print(f"{n} questions; the check itself (every setting): "
          f"{sum(r['check_s'] for r in rows) / n:.2f} s per answer")
    print("| on_unsupported | EM | F1 | chrF++ | all sentences supported | green badge "
          "| wrong answers green | ROC-AUC right vs wrong | answers changed | time added per answer |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for how in SETTINGS:
        predictions = [first_line(r[how]["text"]) for r in rows]
        golds = [r["answers"] for r in rows]
        em = 100 * sum(exact_match(p, g) for p, g in zip(predictions, golds)) / n
        f1s = [token_f1(p, g) for p, g in zip(predictions, golds)]
        f1 = 100 * sum(f1s) / n
        badge = badge_figures([r[how]["score"] for r in rows], f1s, WELL_SUPPORTED)
        chrf = chrf_report([strip_citations(p) for p in predictions], [g[0] for g in golds])
        supported = sum(r[how]["all_supported"] for r in rows)
        green = sum(r[how]["score"] >= WELL_SUPPORTED for r in rows)
        changed = sum(r[how]["text"] != r["mark"]["text"] for r in rows)
        print(f"| {how} | {em:.1f} | {f1:.1f} | {chrf['corpus']:.1f} | {100 * supported / n:.1f}% "
              f"({supported}) | {100 * green / n:.1f}% ({green}) | {100 * badge['wrong_green']:.1f}% "
              f"| {badge['roc_auc']:.3f} | {changed} | "
              f"{sum(r[how]['seconds'] for r in rows) / n:.2f} s |")
    actions = {how: {} for how in SETTINGS[1:]}
    for row in rows:
        for how in SETTINGS[1:]:
            action = row[how]["action"] or "none needed"
            actions[how][action] = actions[how].get(action, 0) + 1
    print("repairs:", json.dumps(actions, ensure_ascii=False))
    tried = [r for r in rows if r["retry"]["second"] is not None]
    reworded = sum(r["retry"]["second"] != r["mark"]["text"] for r in tried)
    print(f"retry: {len(tried)} second tries, {reworded} worded otherwise than the first")
    if tried:
        def mean_f1(key) -> float:
            return sum(token_f1(first_line(key(r)), r["answers"]) for r in tried) / len(tried)

        print(f"  on those: F1 of the first {mean_f1(lambda r: r['mark']['text']):.3f}, of the "
              f"second {mean_f1(lambda r: r['retry']['second']):.3f}; "
              f"{sum(r['retry']['seconds'] for r in tried) / len(tried):.2f} s per second try")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", default="30-35")
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "bench" / "answers.jsonl")
    parser.add_argument("--results", type=Path,
                        default=REPO / ".cache" / "bench" / "answer_repair.jsonl")
    parser.add_argument("--limit", type=int, help="only the first N questions (a smoke test)")
    args = parser.parse_args()
    from assistant.engine import Engine
    from assistant.rag import build_rag_prompt
    from assistant.settings import load_settings

    settings = load_settings()
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    engine = Engine(replace(settings, home=Path(tempfile.mkdtemp(prefix="repair-home-")),
                            model_cache=settings.models_dir))
    records = generate(articles(args.test), args.cache, engine)[:args.limit]
    generator, preset = engine.generator("chat"), engine.preset("answer")

    def regenerate(question, sources, evidence):  # as Engine.prepare_answer's second try
        return generator.stream(build_rag_prompt(question, sources, None, evidence), preset)

    done = ({r["question"]: r for r in map(json.loads, args.results.open(encoding="utf-8"))}
            if args.results.exists() else {})
    rows = []
    with args.results.open("a", encoding="utf-8") as out:
        for record in records:
            row = done.get(record["question"])
            if row is None:
                row = {"question": record["question"], "answers": record["answers"],
                       **repaired(engine, record, regenerate)}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
            rows.append(row)
    summary(rows)


if __name__ == "__main__":
    main()
