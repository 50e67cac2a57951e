"""Grounding checker on claims built from XQuAD-ru: ROC-AUC and accuracy per class.

The claim set (written as JSONL in the `lira eval check` format, each claim's
only source being its paragraph):

- supported: the paragraph sentence that holds a question's answer span, and
  rule-based paraphrases of it, each keeping the answer: a parenthesis
  dropped; a subordinate clause (", который ...", ", где ...") dropped; a
  leading subordinate clause ("Когда ..., B.") moved after the main one
  ("B, когда ..."); or the sentence shortened to its comma/semicolon/dash
  segment that holds the answer (at least five words).  Half the supported
  claims are paraphrases where there are enough.
- contradicted: the same sentence with the answer span replaced by another
  question's answer of the same type from the same article: a year for a year
  (1000-2099, maybe with "году"/"г."), a decade for a decade ("1970-х"), a
  percentage for a percentage, a number for a number (figures, maybe with up
  to two words: "230 миллионов долларов"), a name for a name (one to four
  words, all capitalised); other answers are never swapped.
- unsupported: a sentence (six words or more) from another article; with
  ``--unsupported-from same-article`` from another paragraph of the same
  article instead, a harder set: same topic and names, other facts.

With ``--sources article`` every paragraph of the claim's article is its
sources, so a swapped value is stated there too, about something else: the
role swaps the checker must catch.

Classes are balanced (``--per-class``, fewer when an article set has fewer
swappable answers) and every choice is seeded.  The checker runs without an
NLI model, and also with one when ``--nli`` is given.

    python bench/claims.py [--per-class 300] [--seed 13] [--out FILE] [--nli DIR]
                           [--no-embeddings] [--unsupported-from same-article] [--home DIR]
                           [--sources article]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Collection
from pathlib import Path

from assistant.runtime.offline import quiet_libraries

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
XQUAD = REPO.parent / "shared" / "data" / "xquad-ru" / "xquad.ru.dev36.json"

from adapters.sentence_edits import (  # noqa: E402
    answer_type,
    paraphrases,
    sentence_spans,
    swapped,
)


def article_items(article: dict, rng: random.Random) -> tuple[list, list]:
    """Supported and contradicted candidates of one article."""
    by_type = defaultdict(list)
    for paragraph in article["paragraphs"]:
        for qa in paragraph["qas"]:
            text = qa["answers"][0]["text"]
            by_type[answer_type(text)].append(text)
    supported, contradicted = [], []
    for paragraph in article["paragraphs"]:
        context, spans = paragraph["context"], sentence_spans(paragraph["context"])
        for qa in paragraph["qas"]:
            answer = qa["answers"][0]
            start, text = answer["answer_start"], answer["text"]
            holder = next((s for s in spans if s[0] <= start and start + len(text) <= s[1]), None)
            if holder is None or context[start:start + len(text)] != text:
                continue
            sentence, offset = holder[2], start - holder[0]
            supported.append(("sentence", sentence, context))
            supported += [(v, t, context) for v, t in paraphrases(sentence, text)]
            kind = answer_type(text)
            if kind != "other" and (claim := swapped(sentence, offset, text, by_type[kind], rng)):
                contradicted.append((f"{kind} swapped", claim, context))
    return supported, contradicted


def build_claims(per_class: int, seed: int, same_article: bool = False,
                 only: Collection[int] | None = None) -> list[dict]:
    """The balanced, seeded claim set (from the articles numbered in ``only``, else all)."""
    rng = random.Random(seed)
    articles = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
    supported, contradicted, sentences = [], [], []
    for index, article in enumerate(articles):
        if only is not None and index not in only:
            continue
        found, wrong = article_items(article, rng)
        supported += _unique(found)
        contradicted += _unique(wrong)
        sentences += [(index, p["context"], s) for p in article["paragraphs"]
                      for _, _, s in sentence_spans(p["context"]) if len(s.split()) >= 6]
    n = min(per_class, len(contradicted), len(supported))
    originals = [s for s in supported if s[0] == "sentence"]
    rewrites = [s for s in supported if s[0] != "sentence"]
    chosen = rng.sample(rewrites, min(len(rewrites), n // 2))
    chosen += rng.sample(originals, n - len(chosen))
    rows = [_row(v, c, p, "supported") for v, c, p in chosen]
    rows += [_row(v, c, p, "contradicted") for v, c, p in rng.sample(contradicted, n)]
    rows += [_unsupported(rng, articles, sentences, c, same_article)
             for _, _, c in rng.sample(supported, n)]
    rng.shuffle(rows)
    return rows


def _unique(items: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return list({(claim, paragraph): (v, claim, paragraph)
                 for v, claim, paragraph in items}.values())


def _unsupported(rng: random.Random, articles: list, sentences: list, paragraph: str,
                 same_article: bool) -> dict:
    home = next(i for i, a in enumerate(articles)
                if any(p["context"] == paragraph for p in a["paragraphs"]))
    pool = [s for s in sentences if (s[0] == home) == same_article and s[1] != paragraph]
    variant = "same article" if same_article else "other article"
    return _row(variant, rng.choice(pool)[2], paragraph, "unsupported")


def _row(variant: str, claim: str, paragraph: str, label: str) -> dict:
    return {"claim": claim, "sources": [paragraph], "label": label, "variant": variant}


def with_article_sources(rows: list[dict]) -> list[dict]:
    """The rows with every paragraph of their paragraph's article as sources."""
    articles = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
    article_of = {p["context"]: [q["context"] for q in a["paragraphs"]]
                  for a in articles for p in a["paragraphs"]}
    return [row | {"sources": article_of[row["sources"][0]]} for row in rows]


def run_checker(rows: list[dict], embedder, nli, title: str) -> dict:
    """Judge the claims and print ROC-AUC, per-class and per-variant accuracy."""
    from assistant.evals.check import LabelledClaim, evaluate

    items = [LabelledClaim(r["claim"], r["sources"], r["label"]) for r in rows]
    started = time.perf_counter()
    metrics, judged = evaluate(items, embedder, nli)
    seconds = time.perf_counter() - started
    print(f"\n{title}: n={metrics['n']}  ROC-AUC={metrics['roc_auc']}  "
          f"accuracy={metrics['accuracy']}  ({seconds:.0f} s)")
    for label, accuracy in metrics["per_class"].items():
        print(f"  {label:<13} accuracy {accuracy}   predicted as {metrics['confusion'][label]}")
    hits, totals = Counter(), Counter()
    for row, verdict in zip(rows, judged):
        totals[row["variant"]] += 1
        hits[row["variant"]] += verdict.verdict == row["label"]
    for variant in sorted(totals):
        print(f"    {variant:<20} {hits[variant]}/{totals[variant]}")
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "bench" / "claims.jsonl",
                        help="where to write the claims (JSONL)")
    parser.add_argument("--nli", help="also run with this NLI model (folder or bundled name)")
    parser.add_argument("--no-embeddings", action="store_true", help="facts and wording only")
    parser.add_argument("--unsupported-from", choices=("other-article", "same-article"),
                        default="other-article", help="where unsupported sentences come from")
    parser.add_argument("--home", type=Path, help="LIRA_HOME whose model cache to use")
    parser.add_argument("--sources", choices=("paragraph", "article"), default="paragraph",
                        help="each claim's sources: its paragraph, or every paragraph of its "
                             "article (a swapped value then occurs in the sources too)")
    args = parser.parse_args()
    rows = build_claims(args.per_class, args.seed, args.unsupported_from == "same-article")
    if args.sources == "article":
        rows = with_article_sources(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                        encoding="utf-8")
    print(f"wrote {len(rows)} claims to {args.out}")
    from assistant.engine import Engine
    from assistant.settings import load_settings

    engine = Engine(load_settings({"home": args.home}))
    embedder = None if args.no_embeddings else engine.embedder()
    run_checker(rows, embedder, None, "without NLI")
    if args.nli:
        run_checker(rows, embedder, engine.nli(args.nli), f"with NLI {args.nli}")


if __name__ == "__main__":
    main()
