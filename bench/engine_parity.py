"""The chat adapter's held-out answers on llama.cpp against the transformers path, side by side.

The same held-out questions as bench/adapter_quality.py (the chat adapter's
manifest rebuilds them), answered greedily by the bundled gemma-3-270m with the
chat adapter on each engine in one process: EM, token F1 and chrF++ per engine,
and the greedy agreement (the share of questions whose answer lines are
identical), with the questions where the two disagree and who scored better.

    python bench/engine_parity.py [--questions N] [--show 5] [--engines llama.cpp]
                                  [--records DIR]

With --records each engine's answers are kept in DIR/<engine>.json and an
engine whose answers are there is not run again: the two halves can run in
two processes (one core each) and be compared by a third.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.runtime.offline import quiet_libraries

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.adapter_quality import BUNDLED, chat_items, manifest_of, progress  # noqa: E402

ENGINES = ("llama.cpp", "transformers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, help="only the first N held-out questions")
    parser.add_argument("--show", type=int, default=5, help="disagreements to print")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--records", type=Path, help="keep and reuse each engine's answers here")
    args = parser.parse_args()

    from assistant.engine import Engine
    from assistant.evals.adapter_eval import ScoredRun, answer_questions, score_answers
    from assistant.settings import load_settings

    items = chat_items(manifest_of(BUNDLED / "chat"), args.questions)
    runs = {}
    for engine in args.engines:
        kept = args.records / f"{engine}.json" if args.records else None
        if kept is not None and kept.is_file():
            records = json.loads(kept.read_text(encoding="utf-8"))
            runs[engine] = ScoredRun(records, score_answers(records))
            continue
        generator = Engine(load_settings({"chat.engine": engine})).generator("chat")
        with progress(len(items), engine) as bar:
            runs[engine] = answer_questions(generator, items, tick=bar.update)
        print(f"{engine:<13} {generator.loaded.describe()}")
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(json.dumps(runs[engine].records, ensure_ascii=False), encoding="utf-8")
    if len(runs) < len(ENGINES):
        return
    print(f"\n{'engine':<13}{'EM':>8}{'F1':>8}{'chrF++':>8}  (n={len(items)})")
    for engine, run in runs.items():
        scores = run.scores
        print(f"{engine:<13}{scores['exact_match']:>8}{scores['f1']:>8}{scores['chrf']:>8}")
    pairs = list(zip(*(runs[e].records for e in ENGINES)))
    same = sum(a["prediction"] == b["prediction"] for a, b in pairs)
    better = sum(a["f1"] > b["f1"] for a, b in pairs)
    worse = sum(a["f1"] < b["f1"] for a, b in pairs)
    print(f"\ngreedy agreement: {same} of {len(pairs)} answers identical "
          f"({100 * same / len(pairs):.1f}%); where they differ, llama.cpp's F1 is higher "
          f"in {better} and lower in {worse}")
    for a, b in [(a, b) for a, b in pairs if a["prediction"] != b["prediction"]][:args.show]:
        print(f"- {a['question']}\n    gold {a['answers'][0]!r}\n    llama.cpp {a['prediction']!r}"
              f"\n    transformers {b['prediction']!r}")


if __name__ == "__main__":
    main()
