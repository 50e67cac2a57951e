"""Quality of the default adapters on what their training held out, against the bare base.

chat: the questions of the SQuAD articles the chat adapter's manifest held out,
in the training prompt (the gold passage among distractors of the same
article), answered greedily; exact match, token F1 and chrF++ of the answer's
first line (citations removed), and how often it cites the gold passage.

poet: the poems the poet adapter's manifest held out per author; one poem
generated per (author, title) with the poem preset (sampling, a fixed seed per
poem); chrF++ against the original (CHRF(word_order=2), whitespace normalised
on both sides), the self-stop rate (ended at the end-of-poem marker or EOS
before the token limit), the line-count ratio and distinct-1/2.

Both are run with the adapter and with `--adapter none`, in one process.

    python bench/adapter_quality.py [--only chat|poet] [--questions N] [--json FILE]
                                    [--seeds N]

Twelve sampled poems' chrF++ moves by several points from one seed to the next,
so ``--seeds N`` writes them N times (seeds --seed, --seed + 1, ...) and prints
each run and the mean with its standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from assistant.runtime.offline import quiet_libraries

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BUNDLED = REPO / "adapters" / "bundled"


def manifest_of(adapter: Path) -> dict:
    """The adapter's lira-adapter.json."""
    from adapters.manifest import read_manifest

    manifest = read_manifest(adapter)
    if not manifest:
        raise SystemExit(f"{adapter} has no lira-adapter.json; train it with `lira train`")
    return manifest


def chat_items(manifest: dict, limit: int | None) -> list:
    """The held-out questions, rebuilt from the SQuAD file the manifest names."""
    from adapters.data_squad import holdout_questions, is_squad

    options = manifest["data"]["options"]
    for entry in manifest["data"]["files"]:
        document = json.loads(Path(entry["path"]).read_text(encoding="utf-8"))
        if is_squad(document):
            items = holdout_questions(document, options["seed"], options["holdout_articles"])
            return items[:limit] if limit else items
    raise SystemExit("the chat adapter's manifest names no SQuAD file")


def poet_items(manifest: dict, generator, limit: int | None) -> list:
    """The held-out poems, chosen again with the options the manifest records."""
    from adapters.data_poems import holdout_poems

    options = manifest["data"]["options"]
    corpus = Path(manifest["data"]["files"][0]["path"])
    poems = holdout_poems(corpus, generator.count_tokens, options["poem_max_tokens"],
                          options["holdout_per_author"])
    return poems[:limit] if limit else poems


def progress(total: int, label: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=label, file=sys.stderr, leave=False)


def run_chat(engine, adapter: Path, limit: int | None, with_base: bool = True) -> dict:
    from assistant.evals.adapter_eval import answer_questions

    items = chat_items(manifest_of(adapter), limit)
    rows = {}
    for label, choice in (("adapter", str(adapter)), ("base", "none"))[:2 if with_base else 1]:
        generator = engine.generator("chat", choice)
        started = time.perf_counter()
        with progress(len(items), f"chat/{label}") as bar:
            run = answer_questions(generator, items, tick=bar.update)
        rows[label] = run.scores | {"wall_s": round(time.perf_counter() - started, 1),
                                    "model": generator.loaded.describe(),
                                    "examples": run.records[:3]}
    return rows


def run_poet(engine, adapter: Path, limit: int | None, seed: int,
             with_base: bool = True) -> dict:
    from adapters.poem_template import build_poem_prompt
    from assistant.evals.adapter_eval import write_poems

    manifest = manifest_of(adapter)
    rows = {}
    for label, choice in (("adapter", str(adapter)), ("base", "none"))[:2 if with_base else 1]:
        generator = engine.generator("poem", choice)
        poems = poet_items(manifest, generator, limit)
        started = time.perf_counter()
        with progress(len(poems), f"poet/{label}") as bar:
            run = write_poems(generator, poems, lambda p: build_poem_prompt(p.author, p.title),
                              seed=seed, tick=bar.update)
        rows[label] = run.scores | {"wall_s": round(time.perf_counter() - started, 1),
                                    "model": generator.loaded.describe(),
                                    "examples": run.records[:2]}
    return rows


def print_table(name: str, rows: dict, keys: list[str]) -> None:
    print(f"\n{name} (n={rows['adapter']['n']})")
    print(f"{'':<10}" + "".join(f"{k:>20}" for k in keys))
    for label in [key for key in ("adapter", "base") if key in rows]:
        print(f"{label:<10}" + "".join(f"{rows[label][k]:>20}" for k in keys))


def print_spread(runs: list[dict], keys: list[str]) -> None:
    """Each figure's mean over the runs and its standard error."""
    from statistics import mean, stdev

    print(f"\nover {len(runs)} seeds: mean (standard error)")
    print(f"{'':<10}" + "".join(f"{key:>20}" for key in keys))
    for label in [key for key in ("adapter", "base") if key in runs[0]]:
        cells = []
        for key in keys:
            values = [run[label][key] for run in runs]
            cells.append(f"{mean(values):.3f} ({stdev(values) / len(values) ** 0.5:.3f})")
        print(f"{label:<10}" + "".join(f"{cell:>20}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["chat", "poet"])
    parser.add_argument("--chat-adapter", type=Path, default=BUNDLED / "chat")
    parser.add_argument("--poet-adapter", type=Path, default=BUNDLED / "poet")
    parser.add_argument("--questions", type=int, help="score only the first N held-out questions")
    parser.add_argument("--poems", type=int, help="score only the first N held-out poems")
    parser.add_argument("--seed", type=int, default=1234, help="first poem's sampling seed")
    parser.add_argument("--json", type=Path, help="also write every figure and example here")
    parser.add_argument("--no-base", action="store_true", help="the adapter only")
    parser.add_argument("--seeds", type=int, default=1, help="poems: runs with seeds --seed ...")
    args = parser.parse_args()

    from assistant.engine import Engine
    from assistant.settings import load_settings

    settings = load_settings()
    engine = Engine(settings)
    print(f"speed settings: {settings.speed}")
    report = {}
    if args.only in (None, "chat"):
        report["chat"] = run_chat(engine, args.chat_adapter, args.questions, not args.no_base)
        print_table("chat adapter, held-out XQuAD articles", report["chat"],
                    ["exact_match", "f1", "chrf", "cites_gold_passage", "wall_s"])
    if args.only in (None, "poet"):
        runs = [run_poet(engine, args.poet_adapter, args.poems, args.seed + number,
                         not args.no_base) for number in range(args.seeds)]
        report["poet"] = runs[0] if len(runs) == 1 else {"runs": runs}
        for number, run in enumerate(runs):
            print_table(f"poet adapter, held-out RusLit poems, seed {args.seed + number}", run,
                        ["chrf", "self_stop_rate", "line_count_ratio", "distinct_2", "wall_s"])
        if len(runs) > 1:
            print_spread(runs, ["chrf", "self_stop_rate", "line_count_ratio"])
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
