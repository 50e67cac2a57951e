"""`lira eval poetry`: poems for held-out (author, title) pairs, with the adapter and without.

Each held-out poem is written once by the poem model with its adapter and
once by the bare base, from the training prompt (author and title, no style
examples), with the poem preset and the same sampling seed per poem, and
scored against the original: chrF++, rhyme-scheme agreement, line-count
ratio, self-stop rate and distinct-1/2 (assistant.evals.adapter_eval.score_poems
and assistant.poetry.form_agreement), overall and per author.  ``--search N`` then
tunes the sampling settings on a dev split (assistant.evals.sampling_search).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adapters.data_poems import Poem
from adapters.poem_template import build_poem_prompt
from assistant.engine import NO_ADAPTER, Engine
from assistant.evals.adapter_eval import ScoredRun, score_poems, write_poems
from assistant.evals.chrf import NORMALISATION, chrf_report
from assistant.evals.errors import EvalError
from assistant.evals.gen_metrics import DEFINITIONS as OVERLAP_DEFINITIONS
from assistant.evals.poetry_holdout import holdout_setting, select_poems
from assistant.evals.sampling_search import search_sampling, split_dev_test
from assistant.poetry.form_agreement import DEFINITION, PoemShape, compare_form, poem_shape
from assistant.runtime.generation import Generation
from assistant.runtime.models import resolve
from assistant.runtime.presets import PRESETS, Preset
from assistant.settings import Settings
from index.remote_api import is_remote

Progress = Callable[[str], None]
LABELS = ("adapter", "base")


@dataclass
class PoetryOptions:
    """What `lira eval poetry` was asked to do."""

    corpus: Path
    out: Path
    authors: tuple[str, ...] = ()
    holdout: int | None = None  # None: the adapter's manifest, else 1
    limit: int | None = None  # poems per author
    adapter: str | None = None  # None: the poem profile's setting
    search: int = 0
    seed: int = 1234
    max_new_tokens: int | None = None
    quiet: bool = False


@dataclass
class _Writer:
    """Writes and scores runs of poems with one engine, one progress bar, one seed."""

    engine: Any
    seed: int
    tick: Callable[[], None]

    def run(self, adapter: str, poems: Sequence[Poem], shapes: Sequence[PoemShape],
            preset: Preset) -> ScoredRun:
        generator = self.engine.generator("poem", adapter)
        if not hasattr(generator, "generate"):  # a model on a server streams only
            generator = _Generating(generator)
        run = write_poems(generator, poems, _prompt, preset, self.seed, self.tick)
        chrf = chrf_report([r["poem"] for r in run.records], [r["reference"] for r in run.records])
        for record, shape, score in zip(run.records, shapes, chrf["sentences"]):
            record["chrf"] = score
            record["form"] = compare_form(poem_shape(record["poem"]), shape).to_dict()
        return ScoredRun(run.records, scores_of(run.records))


@dataclass
class _Generating:
    """generate() over a generator that only streams (assistant.runtime.remote)."""

    generator: Any

    def generate(self, prompt: str, preset: Preset) -> Generation:
        stream = self.generator.stream(prompt, preset)
        return Generation("".join(stream), stream.stats)


def _prompt(poem: Poem) -> str:
    return build_poem_prompt(poem.author, poem.title)


def scores_of(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """score_poems' figures plus rhyme-scheme agreement (see assistant.poetry.form_agreement)."""
    forms = [r["form"] for r in records]
    n = len(forms)
    return score_poems(records) | {
        "scheme_exact": round(sum(f["exact"] for f in forms) / n, 4),
        "line_agreement": round(sum(f["line_agreement"] for f in forms) / n, 4),
        "rhymed": round(sum(f["rhymed"] for f in forms) / n, 4)}


def by_author(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """scores_of for each author's records, authors in corpus order."""
    groups: dict[str, list] = defaultdict(list)
    for record in records:
        groups[record["author"]].append(record)
    return {author: scores_of(group) for author, group in groups.items()}


def run_eval_poetry(settings: Settings, options: PoetryOptions,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Select, write, score and (with --search) tune; returns the whole report."""
    if not options.corpus.exists():  # before any model is loaded
        raise EvalError(f"no such corpus: {options.corpus}")
    engine = Engine(settings, progress)
    adapter = _adapter_folder(engine, options.adapter)
    setting = holdout_setting(adapter, options.holdout)
    poems = select_poems(options.corpus, engine.generator("poem", NO_ADAPTER).count_tokens,
                         setting, options.authors, options.limit)
    shapes = [poem_shape(p.text) for p in poems]
    preset = PRESETS["poem"].with_overrides(max_new_tokens=options.max_new_tokens)
    chosen = str(adapter) if adapter else NO_ADAPTER
    split = split_dev_test(range(len(poems)), options.seed) if options.search else None
    total = _generations(len(poems), adapter is not None, options.search)
    with _bar(total, options.quiet) as bar:
        writer = _Writer(engine, options.seed, bar.update)
        runs = {"base": writer.run(NO_ADAPTER, poems, shapes, preset)}
        runs["adapter"] = writer.run(chosen, poems, shapes, preset) if adapter else runs["base"]
        search = _search(writer, chosen, poems, shapes, preset, split, options) if split else None
    setup = _setup(settings, options, adapter, setting, preset)
    return {"command": "lira eval poetry", "n": len(poems), "setup": setup,
            "models": {label: {"overall": runs[label].scores,
                               "per_author": by_author(runs[label].records)}
                       for label in LABELS},
            "search": search, "poems": _side_by_side(runs)}


def _adapter_folder(engine, reference: str | None) -> Path | None:
    """The poem adapter to compare with the base (None: there is none to compare).

    A model on a server has no adapter here: both columns are that model."""
    settings = engine.settings
    if is_remote(settings.poem.model):
        if reference not in (None, "auto", NO_ADAPTER):
            raise EvalError(f"--adapter {reference} cannot apply to {settings.poem.model}, a "
                            "model on a server; leave --adapter out or pick a local poem model")
        return None
    reference = settings.poem.adapter if reference is None else reference
    path = engine.adapter_path(reference, "poem",
                               resolve(settings.poem.model, settings, engine.progress))
    if path is not None and not path.is_dir():
        raise EvalError(f"no adapter folder '{reference}'; give a folder, a name under "
                        "LIRA_HOME/adapters, or 'none'")
    return path


def _generations(poems: int, adapter: bool, trials: int) -> int:
    """How many poems the run writes: the progress bar's total."""
    dev = (poems + 1) // 2
    return poems * (2 if adapter else 1) + (trials * dev + 2 * (poems - dev) if trials else 0)


def _bar(total: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="poems", unit="poem", file=sys.stderr,
                disable=quiet or None, leave=False, dynamic_ncols=True)


def _search(writer: _Writer, adapter: str, poems: list[Poem], shapes: list[PoemShape],
            preset: Preset, split: tuple[list[int], list[int]],
            options: PoetryOptions) -> dict[str, Any]:
    """Tune sampling on the dev split; the winner against the default preset on the test split."""
    dev, test = split

    def pick(indices: list[int]) -> tuple[list[Poem], list[PoemShape]]:
        return [poems[i] for i in indices], [shapes[i] for i in indices]

    result = search_sampling(lambda p: writer.run(adapter, *pick(dev), p).scores["chrf"],
                             options.search, options.seed, preset)
    default, best = (writer.run(adapter, *pick(test), p) for p in (preset, result.preset))
    return {"model": "adapter" if adapter != NO_ADAPTER else "base", "seed": options.seed,
            "objective": "corpus chrF++ on the dev split",
            "split": {"dev": [_name(poems[i]) for i in dev],
                      "test": [_name(poems[i]) for i in test]},
            "trials": [{"number": t.number, "params": _rounded(t.params), "dev_chrf": t.dev_chrf}
                       for t in result.trials],
            "best": {"number": result.best.number, "params": _rounded(result.best.params),
                     "dev_chrf": result.best.dev_chrf},
            "test": {"default": default.scores, "best": best.scores}}


def _name(poem: Poem) -> dict[str, str]:
    return {"author": poem.author, "title": poem.title}


def _rounded(params: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in params.items()}


def _side_by_side(runs: dict[str, ScoredRun]) -> list[dict[str, Any]]:
    """One record per poem: the original and what each model wrote, with its scores."""
    rows = []
    for pair in zip(*(runs[label].records for label in LABELS)):
        first = pair[0]
        row = {"author": first["author"], "title": first["title"],
               "reference": first["reference"],
               "reference_scheme": first["form"]["reference_scheme"]}
        for label, record in zip(LABELS, pair):
            row[label] = {key: record[key] for key in
                          ("poem", "stopped_by", "new_tokens", "chrf", "form")}
        rows.append(row)
    return rows


def _setup(settings: Settings, options: PoetryOptions, adapter: Path | None, setting,
           preset: Preset) -> dict[str, Any]:
    return {"corpus": str(options.corpus), "poem_model": settings.poem.model,
            "adapter": str(adapter) if adapter else "none (both columns are the base model)",
            "holdout_per_author": setting.per_author, "poem_max_tokens": setting.max_tokens,
            "holdout_from": setting.source, "authors": list(options.authors) or "all",
            "limit_per_author": options.limit, "seed": options.seed,
            "prompt": "the training prompt: author and title, no style examples",
            "preset": {k: v for k, v in asdict(preset).items() if k != "stop"},
            "chrf": f"sacrebleu CHRF(word_order=2) against the original; {NORMALISATION}, "
                    "the same for both sides",
            "overlap_metrics": OVERLAP_DEFINITIONS,
            "rhyme_agreement": DEFINITION,
            "self_stop": "the poem ended at the end-of-poem marker or EOS, not the token limit",
            "line_count_ratio": "generated lines per original line, averaged over poems",
            "distinct_n": "distinct word n-grams over all n-grams of a run's poems"}
