"""`lira eval rag` and `lira eval poetry`: run, write the report folder, print the figures.

Imported by the CLI only when one of them runs; the evaluations themselves
live in assistant.evals.rag and assistant.evals.poetry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.cli.check import grounding_options
from assistant.cli.root import emit_json, stage_printer

if TYPE_CHECKING:  # annotations only: `lira --help` does not load the settings
    from assistant.settings import Settings


@click.group("eval")
def eval_group() -> None:
    """Evaluate: retrieval and answers, poems, grounding checks, text-overlap metrics."""


def segment_files(func):
    """--hyp, --ref and --json: the options of `lira eval chrf` and `lira eval gen`."""
    func = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)
    func = click.option("--ref", "ref", type=click.Path(path_type=Path), required=True,
                        help="References, one segment per line.")(func)
    return click.option("--hyp", "hyp", type=click.Path(path_type=Path), required=True,
                        help="Hypotheses, one segment per line.")(func)


@eval_group.command("chrf")
@segment_files
def eval_chrf(hyp: Path, ref: Path, as_json: bool) -> None:
    """Corpus and sentence chrF++ of HYP against REF (sacrebleu, word_order=2)."""
    from assistant.evals.chrf import chrf_report, read_segments

    report = chrf_report(read_segments(hyp), read_segments(ref))
    if as_json:
        emit_json(report)
        return
    click.echo(f"chrF++ {report['corpus']:.2f} over {report['n']} segments "
               f"({report['normalisation']})")
    for number, score in enumerate(report["sentences"], 1):
        click.echo(f"{number:>5}  {score:6.2f}")


@eval_group.command("gen")
@segment_files
def eval_gen(hyp: Path, ref: Path, as_json: bool) -> None:
    """chrF++, BLEU, ROUGE-1/2/L and METEOR of HYP against REF, for Russian text."""
    from assistant.evals.chrf import read_segments
    from assistant.evals.gen_metrics import DEFINITIONS, gen_scores

    scores = gen_scores(read_segments(hyp), read_segments(ref))
    if as_json:
        emit_json(scores.to_dict() | {"definitions": DEFINITIONS})
        return
    click.echo(f"{scores.line()}  over {scores.n} segments")


@eval_group.command("check")
@click.option("--claims", type=click.Path(path_type=Path), required=True,
              help='JSONL: {"claim", "sources": [text, ...], "label"} per line.')
@grounding_options
@click.option("--out", type=click.Path(path_type=Path),
              help="Also write report.json, summary.md and scores.png into this folder.")
@click.pass_obj
def eval_check(settings, claims: Path, nli: str | None, no_embeddings: bool,
               out: Path | None) -> None:
    """Measure `lira check` on labelled claims.

    Prints ROC-AUC (supported against the rest, by claim score), the 3-way
    accuracy and the confusion counts as JSON.
    """
    from assistant.evals.check import run_eval_check

    emit_json(run_eval_check(settings, claims, nli, not no_embeddings, out,
                              stage_printer(False)))


@eval_group.command("rag")
@click.option("--qa", type=click.Path(path_type=Path), required=True,
              help="A SQuAD-format JSON file; each paragraph is indexed as a document.")
@click.option("--distractors", type=click.Path(path_type=Path), multiple=True,
              help="A folder of other documents to index as well (repeat for several).")
@click.option("-k", "depth", type=click.IntRange(1, 50), default=10, show_default=True,
              help="Documents ranked per question (recall@1..k, MRR@k).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions.")
@click.option("--adapter", help="Chat adapter folder or name, or 'none' for the bare base model.")
@click.option("--no-answers", "answers", is_flag=True, flag_value=False, default=True,
              help="Measure retrieval only: no answers, no grounding checks.")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), help="Answer length limit.")
@click.option("--nli", help="NLI model of the grounding check, or 'none' (default: the nli "
                            "setting).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for report.json, summary.md and the plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
def eval_rag(settings, as_json: bool, **flags) -> None:
    """Retrieval and grounded answers on a SQuAD file.

    Indexes the paragraphs (and --distractors) into a throwaway index under
    --out, then reports recall@k and MRR, the answers' exact match, token F1,
    chrF++, BLEU, ROUGE and METEOR, and their grounding verdicts.
    """
    rag_cmd(settings, as_json, stage_printer(as_json), **flags)


@eval_group.command("poetry")
@click.option("--corpus", type=click.Path(path_type=Path), required=True,
              help="A poem corpus: JSONL, PoetryCorpus XML/JSON or a RusLit folder.")
@click.option("--authors", help="Only these authors, comma-separated (parts of names do).")
@click.option("--holdout", type=click.IntRange(1),
              help="Poems held out per author [default: the adapter's training hold-out, "
                   "else 1].")
@click.option("--limit", type=click.IntRange(1), help="At most N held-out poems per author.")
@click.option("--adapter", help="Poem adapter folder or name (default: the poem profile's).")
@click.option("--search", type=click.IntRange(0), default=0, show_default=True,
              help="Try N sampling configurations (Optuna) on a dev split; report the best "
                   "against the default preset on a test split.")
@click.option("--seed", type=int, default=1234, show_default=True,
              help="Sampling seed of the first poem, and of the split and the search.")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), help="Poem length limit.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for report.json, summary.md and the plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
def eval_poetry(settings, authors: str | None, as_json: bool, **flags) -> None:
    """Held-out poems written with the adapter and without, side by side.

    chrF++ (and BLEU, ROUGE, METEOR) against the originals, rhyme-scheme agreement, line-count ratio,
    self-stop rate and distinct-1/2, overall and per author.
    """
    poetry_cmd(settings, authors, as_json, stage_printer(as_json), **flags)


Progress = Callable[[str], None] | None


def rag_cmd(settings: Settings, as_json: bool, progress: Progress, **flags: Any) -> None:
    """Evaluate retrieval and answers on a SQuAD file; write --out; print the figures."""
    from assistant.evals import rag_report as pages
    from assistant.evals.rag import RagOptions, run_eval_rag

    report = run_eval_rag(settings, RagOptions(quiet=as_json, **flags), progress)
    _finish(pages.write_rag_report(flags["out"], report), pages.figures(report),
            pages.summary_lines(report), as_json, progress)


def poetry_cmd(settings: Settings, authors: str | None, as_json: bool, progress: Progress,
               **flags: Any) -> None:
    """Evaluate poems with and without the adapter; write --out; print the figures."""
    from assistant.evals import poetry_report as pages
    from assistant.evals.poetry import PoetryOptions, run_eval_poetry

    wanted = tuple(a.strip() for a in (authors or "").split(",") if a.strip())
    report = run_eval_poetry(settings, PoetryOptions(authors=wanted, quiet=as_json, **flags),
                             progress)
    _finish(pages.write_poetry_report(flags["out"], report), pages.figures(report),
            pages.summary_lines(report), as_json, progress)


def _finish(paths: list[Path], figures: dict, lines: list[str], as_json: bool,
            progress: Progress) -> None:
    if progress:
        progress("wrote " + ", ".join(str(p) for p in paths))
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False))
    else:
        click.echo("\n".join(lines))
