"""Follow-up retrieval: recall@5 of follow-up questions alone, in their conversation, and
of their standalone form, on the labelled set of bench/followup_set.py.

The index holds every XQuAD-ru paragraph as its own file plus RusLit prose as
distractors (``--distractor-mb``), embedded by the bundled e5.  For each pair the
previous question is first searched as the app would (its sources are what the
previous answer drew on), then the follow-up is searched:

- alone: the follow-up's own words;
- rewritten: its standalone form by assistant.followup's rules, without the
  previous sources (what the rules alone recover);
- conversation: what Lira does (Engine.retrieve with the conversation: the
  rewritten query, the previous answer's sources kept as candidates);
- standalone: the original XQuAD question (the ceiling).

The rules were written looking at the pairs of articles 0-17; articles 18-35
are reported apart as held out.

    python bench/followups.py [--distractor-mb 1] [--k 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.runtime.offline import quiet_libraries  # noqa: E402  (offline, no progress bars)

quiet_libraries()

from bench.followup_set import XQUAD, FollowUpPair, build_pairs  # noqa: E402

PROSE = REPO.parent / "shared" / "data" / "ruslit" / "prose"
TUNED = range(0, 18)  # articles whose pairs the rules were written on
ARMS = ("alone", "rewritten", "conversation", "standalone")


def build_index(engine, folder: Path, distractor_mb: float) -> int:
    """XQuAD paragraphs (one file each, named by id) and distractor prose, indexed."""
    import shutil

    from assistant.engine import ingest_options
    from assistant.evals.squad_data import read_squad, write_paragraphs
    from index.ingest import index_path

    write_paragraphs(read_squad(XQUAD), folder / "xquad")
    budget = distractor_mb * 2**20
    for path in sorted(PROSE.rglob("*.txt")):
        if budget <= 0:
            break
        target = folder / "prose" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        budget -= path.stat().st_size
    store = engine.open_index("followups", create=True)
    report = index_path(folder, store, engine.embedder(), ingest_options(engine.settings))
    return report.chunks


def ranks(engine, pair: FollowUpPair, k: int) -> dict[str, int | None]:
    """The rank of the follow-up's gold paragraph in each arm's top ``k`` (None: missed)."""
    from assistant.followup import Turn, read_follow_up

    def hit(sources) -> int | None:
        return next((s.n for s in sources if Path(s.path).stem == pair.paragraph), None)

    previous = engine.retrieve(pair.previous_question, k, "followups")
    turns = [Turn(pair.previous_question, pair.previous_answer, "", tuple(previous.sources))]
    rewritten = read_follow_up(pair.follow_up, turns).searched
    return {
        "alone": hit(engine.retrieve(pair.follow_up, k, "followups").sources),
        "rewritten": hit(engine.retrieve(rewritten, k, "followups").sources),
        "conversation": hit(engine.retrieve(pair.follow_up, k, "followups", turns).sources),
        "standalone": hit(engine.retrieve(pair.standalone, k, "followups").sources),
    }


def row(label: str, results: list[dict[str, int | None]], k: int) -> str:
    """Recall@1 and recall@k of each arm."""
    n = max(len(results), 1)

    def recall(arm: str, depth: int) -> float:
        return sum(1 for r in results if r[arm] is not None and r[arm] <= depth) / n

    cells = " ".join(f"{recall(arm, 1):>7.3f} {recall(arm, k):.3f}" for arm in ARMS)
    return f"{label:<26} {len(results):>5} {cells}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distractor-mb", type=float, default=1.0,
                        help="MB of RusLit prose added as distractors")
    parser.add_argument("--k", type=int, default=5, help="recall at this depth")
    parser.add_argument("--keep", type=Path,
                        help="keep the index in this folder, and reuse it when it is there")
    args = parser.parse_args()
    if not XQUAD.is_file():
        sys.exit(f"{XQUAD} not found: this benchmark needs ../shared/data")
    from assistant.engine import Engine
    from assistant.settings import load_settings

    pairs = build_pairs()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({})
        home = args.keep or Path(tmp)
        settings.home = home / "home"  # a throwaway index; models from their packages
        engine = Engine(settings)
        if not engine.index_exists("followups"):
            started = time.perf_counter()
            chunks = build_index(engine, home / "corpus", args.distractor_mb)
            print(f"indexed {chunks} chunks in {time.perf_counter() - started:.0f} s")
        print(f"{len(pairs)} follow-up pairs")
        started = time.perf_counter()
        results = [(pair, ranks(engine, pair, args.k)) for pair in pairs]
        seconds = time.perf_counter() - started
    print(f"\nrecall@1 and @{args.k}{'':<12} {'pairs':>5} " +
          " ".join(f"{arm:>13}" for arm in ARMS))
    groups = {
        "all": results,
        "tuned (articles 0-17)": [x for x in results if x[0].article in TUNED],
        "held out (articles 18-35)": [x for x in results if x[0].article not in TUNED],
        "same paragraph": [x for x in results if x[0].same_paragraph],
        "another paragraph": [x for x in results if not x[0].same_paragraph],
    }
    for label, group in groups.items():
        print(row(label, [r for _, r in group], args.k))
    print(f"\n{seconds / max(len(pairs), 1) * 1000:.0f} ms per pair (4 searches)")


if __name__ == "__main__":
    main()
