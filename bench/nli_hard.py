"""The NLI adapter retrained with hard pairs from XQuAD: before and after, LoRA against a full fine-tune.

Hard pairs (adapters/data_nli_hard.py) come from the ``--train`` articles of
XQuAD-ru dev36; each run continues from the bundled adapter (the common
start) for one pass over them plus as many pairs drawn from its own training
data (TERRa, RCB, ru-WaNLI; ``--replay``), so that it keeps what it knew.
``lora`` trains the adapter's LoRA and head; ``full`` merges the adapter and
trains the whole encoder but its word embeddings (adapters/nli_finetune.py).

Measured for the bundled adapter and each run, on data none of them trained on:

- the NLI test splits the bundled adapter was tested on (TERRa and RCB val,
  the seeded tenth of ru-WaNLI): accuracy per set and over the 3-way sets;
- hard pairs built the same way from the ``--test`` articles: 3-way accuracy
  and recall of the contradictions;
- the grounding checker (facts, wording, e5 and the NLI model) on claim sets
  of bench/claims.py built from the ``--test`` articles, every paragraph of
  the article as sources (so a swapped value is stated there, about something
  else): ROC-AUC, accuracy, recall of contradicted claims and precision of
  supported ones; also on the odd-numbered test articles alone, which no
  threshold of the checker was ever fitted on.

    python bench/nli_hard.py [--train 0-23] [--test 24-35] [--methods lora,full]
                             [--replay 1.0] [--minutes 22] [--save DIR] [--limit N]
                             [--no-bundled] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import random
import sys
import time
from pathlib import Path

from assistant.runtime.offline import quiet_libraries

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
NLI_TRAIN = [DATA / "nli/terra/train.jsonl", DATA / "nli/rcb/train.jsonl",
             DATA / "nli/ru-wanli/wanli.ru.csv"]
NLI_TEST = [DATA / "nli/terra/val.jsonl", DATA / "nli/rcb/val.jsonl"]
TEST_FRACTION, SPLIT_SEED = 0.1, 42  # as the bundled adapter was tested (its manifest)

from adapters.data_nli import LABELS, nli_data  # noqa: E402
from adapters.data_nli_hard import hard_pairs, read_squad_file, write_pairs  # noqa: E402
from adapters.nli_metrics import nli_report  # noqa: E402
from bench.answer_badge import articles  # noqa: E402
from bench.claims import XQUAD, build_claims, with_article_sources  # noqa: E402


def nli_figures(scorer, test, hard) -> dict:
    """Accuracy on the NLI test splits and on the held-out hard pairs."""
    report = nli_report(test, scorer.scores([(p.premise, p.hypothesis) for p in test]))
    sets = report["test_per_set"]
    three = [s for s in sets.values() if s["labels"] == "3-way"]
    scores = scorer.scores([(i.pair.premise, i.pair.hypothesis) for i in hard])
    guessed = [max(LABELS, key=s.get) for s in scores]
    gold = [LABELS[i.pair.label] for i in hard]
    contradictions = [g == p for g, p in zip(gold, guessed) if g == "contradiction"]
    return {"test_accuracy": report["test_accuracy"],
            "three_way_accuracy": round(sum(s["correct"] for s in three)
                                        / sum(s["n"] for s in three), 4),
            "per_set": {name: s["accuracy"] for name, s in sets.items()},
            "test_per_set": sets, "test_confusion": report["test_confusion"],
            "hard_accuracy": round(sum(g == p for g, p in zip(gold, guessed)) / len(hard), 4),
            "hard_contradiction_recall": round(sum(contradictions) / len(contradictions), 4),
            "hard_n": len(hard)}


def checker_figures(rows: list[dict], embedder, nli, subsets: dict) -> dict:
    """The checker's ROC-AUC, accuracy, contradicted recall and supported precision, for all
    rows and for each named subset of row numbers."""
    from assistant.evals.check import LabelledClaim, claim_metrics, judge_claims

    judged = judge_claims([LabelledClaim(r["claim"], r["sources"], r["label"]) for r in rows],
                          embedder, nli)
    figures = {}
    for name, numbers in subsets.items():
        metrics = claim_metrics([rows[i]["label"] for i in numbers],
                                [judged[i].verdict for i in numbers],
                                [judged[i].score for i in numbers])
        confusion = metrics["confusion"]
        called = sum(confusion[gold]["supported"] for gold in confusion)
        figures[name] = {"n": metrics["n"], "roc_auc": metrics["roc_auc"],
                         "accuracy": metrics["accuracy"],
                         "contradicted_recall": metrics["per_class"]["contradicted"],
                         "supported_precision": round(confusion["supported"]["supported"] / called,
                                                      4) if called else None,
                         "confusion": confusion}
    return figures


def measure(name: str, scorer, test, hard, claim_sets: tuple, embedder) -> dict:
    """Every figure of one NLI model, printed and returned."""
    started = time.perf_counter()
    figures = nli_figures(scorer, test, hard)
    rows, subsets = claim_sets
    figures["claims"] = checker_figures(rows, embedder, scorer, subsets)
    print(f"\n{name} ({time.perf_counter() - started:.0f} s to measure)")
    print(f"  NLI test: overall {figures['test_accuracy']}, 3-way sets "
          f"{figures['three_way_accuracy']}, per set {figures['per_set']}")
    print(f"  held-out hard pairs (n={figures['hard_n']}): 3-way {figures['hard_accuracy']}, "
          f"contradictions found {figures['hard_contradiction_recall']}")
    for label, claims in figures["claims"].items():
        print(f"  checker on {label} (n={claims['n']}): ROC-AUC {claims['roc_auc']}, accuracy "
              f"{claims['accuracy']}, contradicted recall {claims['contradicted_recall']}, "
              f"supported precision {claims['supported_precision']}")
    return figures


def claim_sets(test: list[int], seed: int) -> tuple[list[dict], dict]:
    """The claim set of the test articles (article sources), and the row numbers of all of it
    and of its odd-numbered articles."""
    paragraphs = read_squad_file(XQUAD)["data"]
    article_of = {p["context"]: number for number, a in enumerate(paragraphs)
                  for p in a["paragraphs"]}
    rows = build_claims(1000, seed, only=test)
    odd = [i for i, row in enumerate(rows) if article_of[row["sources"][0]] % 2]
    named = ",".join(str(a) for a in test if a % 2)
    return with_article_sources(rows), {f"articles {test[0]}-{test[-1]}": list(range(len(rows))),
                                        f"odd articles {named}": odd}


def training_pairs(hard, replay: float, seed: int, limit: int | None) -> tuple[list, int]:
    """The hard pairs and a seeded draw of the NLI training pairs, shuffled; and the draw's size."""
    data = nli_data(NLI_TRAIN, NLI_TEST, TEST_FRACTION, SPLIT_SEED)
    rng = random.Random(seed)
    drawn = rng.sample(data.train, min(len(data.train), round(len(hard) * replay)))
    pairs = [i.pair for i in hard] + drawn
    rng.shuffle(pairs)
    return pairs[:limit] if limit else pairs, len(drawn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default="0-23", help="articles the hard pairs are built from")
    parser.add_argument("--test", default="24-35", help="articles the figures are measured on")
    parser.add_argument("--methods", default="lora,full")
    parser.add_argument("--replay", type=float, default=1.0,
                        help="NLI training pairs drawn per hard pair")
    parser.add_argument("--minutes", type=float, default=22, help="time limit of each run")
    parser.add_argument("--lr", default="lora=2e-4,full=2e-5")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--claims-seed", type=int, default=13)
    parser.add_argument("--limit", type=int, help="a smoke run: train and measure on about this many pairs")
    parser.add_argument("--no-bundled", action="store_true",
                        help="measure the runs only, not the bundled adapter they start from")
    parser.add_argument("--save", type=Path, help="write the LoRA run's adapter here")
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "bench" / "nli_hard.json")
    args = parser.parse_args()
    from adapters.nli import BUNDLED_NLI, NliModel, base_reference, encoder_folder, load_pair_tokenizer
    from adapters.nli_finetune import FineTuneOptions, fine_tune, load_start, prepare, save_adapter
    from assistant.engine import Engine
    from assistant.runtime.models import resolve
    from assistant.settings import load_settings

    train, test = articles(args.train), articles(args.test)
    if set(train) & set(test):
        parser.error("--train and --test articles overlap")
    document = read_squad_file(XQUAD)
    hard = hard_pairs(document, train, args.seed)
    held_hard = hard_pairs(document, test, args.seed)
    hard_file = write_pairs(hard, args.out.with_name("nli_hard_pairs.jsonl"))
    test_pairs = nli_data(NLI_TRAIN, NLI_TEST, TEST_FRACTION, SPLIT_SEED).test
    pairs, replayed = training_pairs(hard, args.replay, args.seed, args.limit)
    sets = claim_sets(test, args.claims_seed)
    if args.limit:  # a smoke run: small test sets too
        test_pairs, held_hard = test_pairs[::len(test_pairs) // args.limit], held_hard[:args.limit]
        sets = (sets[0][:args.limit], {name: [i for i in rows if i < args.limit]
                                       for name, rows in sets[1].items()})
    print(f"hard pairs: {len(hard)} from articles {args.train} ({hard_file}), {len(held_hard)} "
          f"from {args.test}; training on {len(pairs)} ({replayed} NLI pairs replayed)")
    engine = Engine(load_settings({}))
    embedder = engine.embedder()
    folder = encoder_folder(resolve(base_reference(), engine.settings))
    tokenizer = load_pair_tokenizer(folder)
    results = {"setup": {"train_articles": args.train, "test_articles": args.test,
                         "hard_pairs": len(hard), "replayed": replayed, "seed": args.seed,
                         "claims_seed": args.claims_seed, "machine": platform.machine()}}
    if not args.no_bundled:
        scorer = NliModel(load_start(folder, BUNDLED_NLI), tokenizer, 256)
        results["bundled"] = measure("bundled adapter", scorer, test_pairs, held_hard, sets,
                                     embedder)
    lrs = dict(item.split("=") for item in args.lr.split(","))
    for method in args.methods.split(","):
        options = FineTuneOptions(method=method, lr=float(lrs[method]), seed=args.seed,
                                  max_minutes=args.minutes)
        model = prepare(load_start(folder, BUNDLED_NLI), method)
        run = fine_tune(model, tokenizer, pairs, options, lambda m, name=method: print(f"  [{name}] {m}",
                                                                                    flush=True))
        figures = measure(f"{method}, continued with hard pairs ({run.steps} of {run.planned} "
                          f"steps, {run.seconds:.0f} s)", NliModel(model, tokenizer, 256),
                          test_pairs, held_hard, sets, embedder)
        results[method] = figures | {"run": vars(run), "options": vars(options)}
        if method == "lora" and args.save:
            save_adapter(model, adapter_manifest(results, hard_file, args), args.save,
                         base_reference())
            print(f"wrote {args.save}")
        del model
    results["created"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nwrote {args.out}")


def adapter_manifest(results: dict, hard_file: Path, args) -> dict:
    """The bundled adapter's manifest, updated to say how the LoRA run continued it and what it scored."""
    from adapters.manifest import read_manifest
    from adapters.nli import BUNDLED_NLI
    from adapters.training_data import data_sha256

    manifest = read_manifest(BUNDLED_NLI)
    first = {key: manifest[key] for key in ("hyperparameters", "data", "splits", "result",
                                            "wall_time_s", "created", "command")}
    lora = results["lora"]
    manifest["continued_from"] = first | {"note": "the bundled adapter this one continued from"}
    manifest["hyperparameters"] |= {
        "learning_rate": lora["options"]["lr"], "epochs": lora["options"]["epochs"],
        "batch_size": lora["options"]["batch_size"], "warmup_steps": None,
        "warmup_fraction": lora["options"]["warmup_fraction"], "scheduler": "linear",
        "eval_fraction": 0, "eval_steps": None, "seed": lora["options"]["seed"],
        "head_learning_rate": lora["options"]["lr"] * 10}
    manifest["data"] = manifest["data"] | {
        "files": [{"path": str(hard_file.resolve()), "sha256": data_sha256(hard_file),
                   "note": f"hard pairs (adapters/data_nli_hard.py) from XQuAD-ru dev36 articles "
                           f"{args.train}, seed {args.seed}"}] + manifest["data"]["files"],
        "sha256": data_sha256(hard_file), "examples": results["setup"]["hard_pairs"]
        + results["setup"]["replayed"],
        "replayed": f"{results['setup']['replayed']} pairs drawn (seed {args.seed}) from the NLI "
                    "files' training split",
        "holdout": [{"xquad_articles": args.test, "note": "claim sets and hard pairs of these "
                     "articles measured the adapter; none trained it"}]}
    manifest["splits"] = {"train": results["setup"]["hard_pairs"] + results["setup"]["replayed"],
                          "eval": 0, "test": manifest["splits"]["test"],
                          "test_origin": manifest["splits"]["test_origin"]}
    manifest["result"] = {"steps": lora["run"]["steps"], "train_loss": lora["run"]["mean_loss"],
                          "last_train_loss": lora["run"]["last_loss"],
                          "test_accuracy": lora["test_accuracy"],
                          "test_n": first["result"]["test_n"],
                          "test_per_set": lora["test_per_set"],
                          "test_confusion": lora["test_confusion"],
                          "three_way_accuracy": lora["three_way_accuracy"],
                          "held_out_hard_pairs": {k: lora[k] for k in (
                              "hard_accuracy", "hard_contradiction_recall", "hard_n")},
                          "claims": {name: {k: v for k, v in c.items() if k != "confusion"}
                                     for name, c in lora["claims"].items()}}
    manifest["wall_time_s"] = lora["run"]["seconds"]
    manifest["created"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    manifest["command"] = "python " + " ".join(sys.argv)
    return manifest


if __name__ == "__main__":
    main()
