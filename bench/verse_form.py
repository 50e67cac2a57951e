"""Form-constrained verse against today's best-of-N, on the poet adapter's held-out poems.

For each held-out (author, title) of the poem adapter (assistant.evals.poetry_holdout,
the poems its training never saw), the author's dominant form is found from that
author's other poems in the corpus (assistant.poetry.constrained_form.dominant_form:
the commonest quatrain scheme, metre and feet) and requested.  Two arms write a poem
from the training prompt (author and title, no style examples), the same sampling
seed per poem:

- best-of-N: N whole poems with the poem preset, the best by form and fluency
  (assistant.poetry.choice, what `lira poem` does without --scheme/--metre);
- constrained: line by line in the requested form (assistant.poetry.constrained).

Printed per arm: the share of poems whose analysed rhyme scheme is the requested
stanza scheme in every stanza ('ABAB ABAB' for ABAB in two stanzas), the share of
stanzas that have it, the share of
lines in the requested metre and feet, the share of poems whose analysed metre is
the requested one, chrF++ against the originals (corpus level, as `lira eval
poetry`), the self-stop rate, lines per poem and seconds per poem.

    nice python bench/verse_form.py [--limit 2] [--candidates 3] [--arms both|best-of-n|constrained]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.runtime.offline import quiet_libraries  # noqa: E402

quiet_libraries()

from adapters.data_poems import read_poems  # noqa: E402
from adapters.poem_template import build_poem_prompt  # noqa: E402
from assistant.engine import Engine  # noqa: E402
from assistant.evals.chrf import chrf_report  # noqa: E402
from assistant.evals.poem_metrics import SELF_STOPS, verse_lines  # noqa: E402
from assistant.evals.poetry_holdout import holdout_setting, select_poems  # noqa: E402
from assistant.poetry.choice import best, generate_candidates  # noqa: E402
from assistant.poetry.constrained import FormStream  # noqa: E402
from assistant.poetry.constrained_form import (  # noqa: E402
    ANALYSED_POEMS,
    dominant_form,
    request_form,
)
from assistant.poetry.constrained_lines import judge  # noqa: E402
from assistant.poetry.form import EmptyPoem, analyze_poem  # noqa: E402
from assistant.poetry.tidy import TidyStream  # noqa: E402
from assistant.poetry.verse import parse_poem  # noqa: E402
from assistant.runtime import compute  # noqa: E402
from assistant.runtime.presets import PRESETS  # noqa: E402
from assistant.settings import load_settings  # noqa: E402

CORPUS = REPO.parent / "shared" / "data" / "ruslit" / "poems"
ARMS = ("best-of-n", "constrained")
MAX_CHARS = 1500  # a lyric poem, not a long narrative one (and the stress model's time)


def author_forms(corpus: Path, held: set[tuple[str, str]], authors: set[str]) -> dict:
    """Each author's dominant form, from the first ANALYSED_POEMS of their lyric poems
    (at most MAX_CHARS) that are not held out."""
    poems, _, _ = read_poems(corpus)
    texts = defaultdict(list)
    for poem in poems:
        if (poem.author in authors and (poem.author, poem.title) not in held
                and len(poem.text) <= MAX_CHARS):
            if len(texts[poem.author]) < ANALYSED_POEMS:
                texts[poem.author].append(poem.text)
    return {author: dominant_form(texts[author]) for author in authors}


def lines_in_metre(text: str, form) -> tuple[int, int]:
    """(lines that fit the requested metre and feet, lines), stressed as a whole poem."""
    verses = [v for stanza in parse_poem(text) for v in stanza]
    if form.metre_spec is None:
        return 0, len(verses)
    fits = sum(judge("", v, "-", [], form.metre_spec, form.feet).metre_ok is True
               for v in verses)
    return fits, len(verses)


def measure(text: str, form) -> dict:
    """The analysed form of a generated poem against the requested ``form``."""
    try:
        got = analyze_poem(text)
    except EmptyPoem:
        return {"scheme": "", "scheme_kept": False, "metre": None, "metre_kept": False,
                "in_metre": 0, "lines": 0}
    wanted = " ".join([form.scheme] * got.stanzas)
    fits, lines = lines_in_metre(text, form)
    return {"scheme": got.rhyme_scheme, "scheme_kept": got.rhyme_scheme == wanted,
            "metre": got.metre, "feet": got.feet,
            "metre_kept": got.metre == form.metre and got.feet == form.feet,
            "in_metre": fits, "lines": lines}


def write(arm: str, generator, poem, request, candidates: int, seed: int) -> dict:
    """One poem by ``arm``, timed."""
    compute.run(_seed, seed)
    prompt = build_poem_prompt(poem.author, poem.title)
    preset = PRESETS["poem"]
    started = time.perf_counter()
    if arm == "constrained":
        stream = FormStream(generator, prompt, preset, request, seed=seed)
        text = "".join(stream).strip()
        report = stream.report()
        stopped = stream.stats.stopped_by
        extra = {key: report[key] for key in ("samples", "chosen_last_words", "last_resort_words",
                                              "prose_refused", "analysis_disagreed",
                                              "stanzas_judged")}
    else:
        found = generate_candidates(generator, prompt,
                                    TidyStream(generator.stream(prompt, preset)), candidates)
        chosen = found[best(found)]
        text, stopped, extra = chosen.text, chosen.stopped_by, {}
    seconds = time.perf_counter() - started
    return {"arm": arm, "author": poem.author, "title": poem.title, "poem": text,
            "reference": poem.text, "stopped_by": stopped, "seconds": round(seconds, 1),
            "requested": request.form.to_dict(), **measure(text, request.form), **extra}


def _seed(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)


def figures(records: list[dict]) -> dict:
    n = len(records)
    lines = sum(r["lines"] for r in records)
    stanzas = [(s, r["requested"]["scheme"]) for r in records for s in r["scheme"].split()]
    return {"n": n,
            "scheme_kept": round(sum(r["scheme_kept"] for r in records) / n, 3),
            "stanzas_in_scheme": round(sum(s == w for s, w in stanzas) / max(len(stanzas), 1), 3),
            "lines_in_metre": round(sum(r["in_metre"] for r in records) / max(lines, 1), 3),
            "metre_kept": round(sum(r["metre_kept"] for r in records) / n, 3),
            "chrf": chrf_report([r["poem"] for r in records],
                                [r["reference"] for r in records])["corpus"],
            "self_stop": round(sum(r["stopped_by"] in SELF_STOPS for r in records) / n, 3),
            "lines_per_poem": round(sum(len(verse_lines(r["poem"])) for r in records) / n, 1),
            "seconds_per_poem": round(sum(r["seconds"] for r in records) / n, 1),
            **judge_against_analysis(records)}


def judge_against_analysis(records: list[dict]) -> dict:
    """For the constrained arm: stanzas whose every rhyme the judge kept, and how many of
    them the final analysis of the whole poem finds in the scheme."""
    pairs = [(judged, got == r["requested"]["scheme"]) for r in records if "stanzas_judged" in r
             for judged, got in zip(r["stanzas_judged"], r["scheme"].split())]
    if not pairs:
        return {}
    judged = [analysed for ok, analysed in pairs if ok]
    return {"stanzas_judged_in_scheme": len(judged), "of_them_analysed_in_scheme": sum(judged),
            "last_resort_words": sum(r["last_resort_words"] for r in records),
            "prose_refused": sum(r["prose_refused"] for r in records),
            "analysis_disagreed": sum(r["analysis_disagreed"] for r in records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, default=3, help="held-out poems per author")
    parser.add_argument("--candidates", type=int, default=3, help="N of best-of-N")
    parser.add_argument("--authors", default="", help="only these authors, comma-separated")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--arms", choices=("both",) + ARMS, default="both")
    parser.add_argument("--out", type=Path, help="write every poem and its figures (JSONL)")
    parser.add_argument("--summarise", type=Path, nargs="+", metavar="JSONL",
                        help="only print the figures of --out files, over the poems every "
                             "arm in them wrote")
    args = parser.parse_args()
    if args.summarise:
        summarise(args.summarise)
        return
    if not args.corpus.exists():
        sys.exit(f"no corpus at {args.corpus} (RusLit poems); give --corpus")
    engine = Engine(load_settings())
    generator = engine.generator("poem")
    adapter = Path(generator.loaded.adapter) if generator.loaded.adapter else None
    setting = holdout_setting(adapter, None)
    authors = tuple(a.strip() for a in args.authors.split(",") if a.strip())
    poems = select_poems(args.corpus, generator.count_tokens, setting, authors, args.limit)
    held = {(p.author, p.title) for p in holdout_poems_all(args.corpus, generator, setting)}

    forms = author_forms(args.corpus, held, {p.author for p in poems})
    for author, known in forms.items():
        print(f"{author}: dominant {known.scheme}, {known.metre} {known.feet} "
              f"({known.poems} poems)", flush=True)
    arms = ARMS if args.arms == "both" else (args.arms,)
    records = {arm: [] for arm in arms}
    out = args.out.open("w", encoding="utf-8") if args.out else None
    every = holdout_poems_all(args.corpus, generator, setting)
    for poem in poems:
        number = every.index(poem)  # the same seed for a poem however the run is split
        request = request_form(None, None, None, None, poem.author, forms[poem.author])
        for arm in arms:
            record = write(arm, generator, poem, request, args.candidates, args.seed + number)
            records[arm].append(record)
            print(f"{arm:12} {poem.author} «{poem.title}»: {record['scheme']!r} "
                  f"(asked {request.form.scheme}) metre {record['in_metre']}/{record['lines']} "
                  f"{record['stopped_by']} {record['seconds']} s", flush=True)
            if out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                out.flush()
    print(f"\n{len(poems)} held-out poems ({setting.source}), adapter "
          f"{adapter.name if adapter else 'none'}, seed {args.seed}")
    for arm in arms:
        label = f"best-of-{args.candidates}" if arm == "best-of-n" else arm
        print(f"{label:12} {json.dumps(figures(records[arm]))}")


def summarise(paths: list[Path]) -> None:
    """Figures of saved records, over the (author, title) pairs that every arm wrote."""
    records = defaultdict(dict)
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            records[record["arm"]][(record["author"], record["title"])] = record
    common = set.intersection(*(set(by_poem) for by_poem in records.values()))
    print(f"{len(common)} poems written by every arm")
    for arm, by_poem in records.items():
        print(f"{arm:12} {json.dumps(figures([by_poem[k] for k in sorted(common)]))}")


def holdout_poems_all(corpus: Path, generator, setting) -> list:
    """Every held-out poem (not only the first ``--limit``): none of them informs a form."""
    return select_poems(corpus, generator.count_tokens, setting)


if __name__ == "__main__":
    main()
