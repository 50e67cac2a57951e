"""Retrieval quality on XQuAD-ru: recall@1/5/10 and MRR for dense, lexical, hybrid.

Each of the 180 XQuAD paragraphs is written as its own file and indexed with
RusLit prose as distractors; a question's gold is the paragraph holding its
answer (any chunk of that file counts).  ``--sweep`` repeats the run for
several chunk sizes to choose the defaults.

    python bench/retrieval.py [--distractor-mb 5] [--sweep 120,200,300] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from assistant.runtime.offline import quiet_libraries  # noqa: E402  (offline, no progress bars)

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
XQUAD = DATA / "xquad-ru" / "xquad.ru.dev36.json"
PROSE = DATA / "ruslit" / "prose"
MODES = ("dense", "lexical", "hybrid")


def write_xquad(folder: Path) -> list[tuple[str, str]]:
    """Each XQuAD paragraph as a file in ``folder``; returns (question, gold file name)."""
    articles = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
    folder.mkdir(parents=True)
    questions = []
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(article["paragraphs"]):
            name = f"xquad-{a:02d}-{p:02d}.txt"
            (folder / name).write_text(paragraph["context"], encoding="utf-8")
            questions += [(qa["question"], name) for qa in paragraph["qas"]]
    return questions


def write_corpus(folder: Path, distractor_mb: float) -> list[tuple[str, str]]:
    """Paragraph files plus distractor files; returns (question, gold file name)."""
    questions = write_xquad(folder / "xquad")
    budget = distractor_mb * 2**20
    for path in sorted(PROSE.rglob("*.txt")):
        if budget <= 0:
            break
        target = folder / "prose" / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        budget -= path.stat().st_size
    return questions


def evaluate(searcher, questions: list[tuple[str, str]], mode: str) -> dict:
    from index.search import SearchOptions

    items = [(q, SearchOptions(mode=mode)) for q, _ in questions]
    ranks = []
    for (_, gold), hits in zip(questions, searcher.search_batch(items, k=10)):
        names = [Path(h.path).name for h in hits]
        ranks.append(names.index(gold) + 1 if gold in names else None)
    n = len(ranks)
    recall = {f"recall@{k}": sum(1 for r in ranks if r and r <= k) / n for k in (1, 5, 10)}
    return {**recall, "mrr@10": sum(1 / r for r in ranks if r) / n}


def run(chunk_tokens: int, overlap: int, distractor_mb: float, home: Path | None,
        embedder=None) -> dict:
    """One indexing and scoring; ``embedder`` (Embedder-like) replaces the configured one."""
    from assistant.engine import Engine, ingest_options
    from assistant.settings import load_settings
    from index.ingest import index_path
    from index.search import Searcher

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        questions = write_corpus(tmp / "corpus", distractor_mb)
        settings = load_settings({"home": home, "chunk_tokens": chunk_tokens,
                                  "chunk_overlap": overlap})
        settings.home = tmp / "home"  # a throwaway index, models from the real cache
        settings.model_cache = load_settings({"home": home}).models_dir
        engine = Engine(settings)
        store = engine.open_index("bench", create=True)
        started = time.perf_counter()
        report = index_path(tmp / "corpus", store, embedder or engine.embedder(),
                            ingest_options(settings))
        seconds = time.perf_counter() - started
        searcher = Searcher(store, embedder) if embedder else engine.searcher("bench")
        scores = {mode: evaluate(searcher, questions, mode) for mode in MODES}
        return {"chunk_tokens": chunk_tokens, "overlap": overlap, "chunks": report.chunks,
                "index_s": round(seconds, 1), "questions": len(questions), **scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distractor-mb", type=float, default=5.0,
                        help="MB of RusLit prose added as distractors (all of it: 60)")
    parser.add_argument("--sweep", default="", help="comma-separated chunk sizes to compare")
    parser.add_argument("--overlap", type=float, default=0.2, help="overlap as a share of size")
    parser.add_argument("--home", type=Path, help="LIRA_HOME whose model cache to use")
    args = parser.parse_args()
    if not XQUAD.is_file():
        sys.exit(f"{XQUAD} not found: this benchmark needs ../shared/data")
    from assistant.settings import Settings

    sizes = [int(s) for s in args.sweep.split(",") if s] or [Settings().chunk_tokens]
    results = [run(size, int(size * args.overlap), args.distractor_mb, args.home) for size in sizes]
    print(f"{'chunk':>6} {'chunks':>7} {'index s':>8}  " +
          "  ".join(f"{m:>7} R@1  R@5 R@10  MRR" for m in MODES))
    for r in results:
        cells = "  ".join(f"{r[m]['recall@1']:>11.3f} {r[m]['recall@5']:.3f} "
                          f"{r[m]['recall@10']:.3f} {r[m]['mrr@10']:.3f}" for m in MODES)
        print(f"{r['chunk_tokens']:>6} {r['chunks']:>7} {r['index_s']:>8}  {cells}")
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
