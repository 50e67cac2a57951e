"""How often the bundled poet's poems carry what is not verse, and what tidy_poem removes.

For the poet adapter's held-out (author, title) pairs (assistant.evals.poetry_holdout,
poems its training never saw), ``--seeds`` poems each are written from the training prompt
(author and title, no style examples) with the poem preset and seeds 0, 1..., and read
raw (the generation stream as it comes, not cleaned).  Printed: the share of poems the
cleaning (assistant/poetry/tidy.py) changes, the share it cuts at a rule or footnote
or a line «Конец» (where the chat now stops generating), the share with no line of
verse at all, the
share of characters it removes, the seconds a poem takes, and the lines it removed
from a few poems.

    nice python bench/poem_tidy.py [--limit 6] [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.runtime.offline import quiet_libraries  # noqa: E402

quiet_libraries()

from adapters.poem_template import build_poem_prompt  # noqa: E402
from assistant.engine import Engine  # noqa: E402
from assistant.evals.poetry_holdout import holdout_setting, select_poems  # noqa: E402
from assistant.poetry.tidy import PoemTidier, has_verse, tidy_lines  # noqa: E402
from assistant.runtime.presets import PRESETS  # noqa: E402
from assistant.settings import load_settings  # noqa: E402

CORPUS = REPO.parent / "shared" / "data" / "ruslit" / "poems"


def removed_lines(raw: str, tidy: str) -> list[str]:
    """The raw lines with letters that the cleaned poem does not keep as they were."""
    kept = set(tidy.splitlines())
    return [line.strip() for line in raw.splitlines() if line.strip() and line.rstrip() not in kept]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=6, help="held-out poems per author")
    parser.add_argument("--seeds", type=int, default=3, help="poems per title")
    parser.add_argument("--show", type=int, default=6, help="poems whose removed lines are shown")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"skipped: {CORPUS} is absent (the RusLit poems of ../shared/data)")
    engine = Engine(load_settings())
    generator = engine.generator("poem")
    setting = holdout_setting(Path(generator.loaded.adapter) if generator.loaded.adapter else None,
                              None)
    poems = select_poems(CORPUS, generator.count_tokens, setting, limit=args.limit)
    import random

    rows = []
    for seed, poem in ((seed, poem) for seed in range(args.seeds) for poem in poems):
        random.seed(seed)  # the llama.cpp sampler's seed is drawn from Python's generator
        started = time.perf_counter()
        raw = generator.generate(build_poem_prompt(poem.author, poem.title),
                                 PRESETS["poem"]).text
        tidier = PoemTidier()
        tidy = "".join(tidy_lines([raw], tidier))
        rows.append({"title": f"{poem.author}, «{poem.title}»", "raw": raw, "tidy": tidy,
                     "cut": tidier.ended, "seconds": time.perf_counter() - started})
    n = len(rows)
    changed = [r for r in rows if r["tidy"] != r["raw"].strip()]
    raw_chars = sum(len(r["raw"].strip()) for r in rows)
    print(f"{n} poems of the bundled poet ({len(poems)} held-out titles, {args.seeds} seeds), "
          f"{sum(r['seconds'] for r in rows) / n:.1f} s a poem")
    lines_gone = [r for r in changed if removed_lines(r["raw"], r["tidy"])]
    print(f"  changed by the cleaning: {len(changed)} ({len(changed) / n:.0%}); lines with "
          f"letters removed from {len(lines_gone)}, only blank lines from the others")
    print(f"  cut at a rule or footnote: {sum(r['cut'] for r in rows)}")
    print(f"  with no line of verse: {sum(not has_verse(r['tidy']) for r in rows)}")
    print(f"  characters removed: "
          f"{1 - sum(len(r['tidy']) for r in rows) / max(raw_chars, 1):.1%}")
    for row in lines_gone[:args.show]:
        print(f"\n{row['title']}: removed {removed_lines(row['raw'], row['tidy'])[:4]}")


if __name__ == "__main__":
    main()
