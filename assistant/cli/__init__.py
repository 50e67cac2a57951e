"""The `lira` command line.

Only click is imported at start, so `lira --help` stays fast; everything heavy
is imported by the command that needs it.  Lira's own errors end as one line
on stderr and a non-zero exit code; --debug shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from assistant.errors import USER_ERRORS
from assistant.runtime.offline import quiet_libraries
from assistant.settings import load_settings
from index.errors import IndexFailure

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=None))


def _stage_printer(quiet: bool):
    """A progress callback that prints stage messages to stderr."""
    if quiet:
        return None
    return lambda message: click.echo(f"lira: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(path_type=Path), help="Lira's data folder (LIRA_HOME).")
@click.option("--embedder", help="Embedding model reference.")
@click.option("--model", "chat_model", help="Chat model reference (HF id, folder or bundled name).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where models run.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, embedder: str | None, chat_model: str | None,
        device: str | None, debug: bool) -> None:
    """Lira (Лира): answers grounded in your Russian documents, in the terminal."""
    ctx.obj = load_settings({"home": home, "embedder": embedder, "chat.model": chat_model,
                             "device": device, "debug": debug or None})


@cli.command()
@click.option("--prepare", is_flag=True, help="Convert the bundled models now (else on first use).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def models(settings, prepare: bool, as_json: bool) -> None:
    """Show the model profiles and where each one resolves."""
    from assistant.runtime.model_report import model_rows, prepare_all

    if prepare:
        prepare_all(settings, _stage_printer(as_json))
    rows = model_rows(settings)
    if as_json:
        _emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['role']:<14} {row['reference']:<26} {row['source']:<28} {row['path'] or '-'}")


@cli.command("index")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", help="Index name (default: the index_name setting).")
@click.option("--layout", type=click.Choice(["auto", "ruslit"]), default="auto",
              show_default=True,
              help="ruslit: plain text starts with an author line and a title line.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def index_cmd(settings, path: Path, name: str | None, layout: str, as_json: bool) -> None:
    """Index the documents under PATH; re-running it syncs what changed.

    Reads .txt .md .html .fb2 .epub .pdf .docx, and poem corpora (.xml, .json,
    .jsonl); other files are skipped and listed.
    """
    from assistant.cli.indexing import run_index, summary_lines

    report = run_index(settings, path, name, layout=layout,
                       quiet=as_json or not sys.stderr.isatty(),
                       progress=_stage_printer(as_json))
    if as_json:
        _emit_json(report.to_dict())
    else:
        click.echo("\n".join(summary_lines(report)))
    if report.added + report.updated + report.unchanged == 0:
        raise IndexFailure(f"nothing indexed under {path}: no readable documents")


def _filter_options(func):
    """Options shared by the commands that search: mode, filters, MMR."""
    options = [
        click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]),
                     default="hybrid", show_default=True, help="Retrieval method."),
        click.option("--author", help="Only this author (case-insensitive substring)."),
        click.option("--title", help="Only titles containing this."),
        click.option("--path", "path_glob", help="Only paths matching this glob."),
        click.option("--year-from", type=int, help="Only documents from this year on."),
        click.option("--year-to", type=int, help="Only documents up to this year."),
        click.option("--mmr", type=click.FloatRange(0, 1),
                     help="Diversify results (MMR weight, e.g. 0.7)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _search_options(mode, author, title, path_glob, year_from, year_to, mmr):
    from index.filters import Filters
    from index.search import SearchOptions

    filters = Filters(author=author, title=title, path=path_glob, year_from=year_from,
                      year_to=year_to)
    return SearchOptions(mode=mode, filters=filters, mmr=mmr)


@cli.command()
@click.argument("query", required=False)
@click.option("--queries", type=click.Path(path_type=Path, dir_okay=False),
              help="File of queries (one a line, or JSONL with query and filters).")
@click.option("--name", help="Index name.")
@click.option("-k", type=click.IntRange(1, 100), default=5, show_default=True, help="Results.")
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def search(settings, query: str | None, queries: Path | None, name: str | None, k: int,
           as_json: bool, **search_flags) -> None:
    """Search an index for passages matching QUERY (or every query in --queries)."""
    from assistant.cli.searching import read_queries, result_json
    from assistant.engine import Engine

    if (query is None) == (queries is None):
        raise click.UsageError("give a QUERY or --queries FILE (not both)")
    options = _search_options(**search_flags)
    searcher = Engine(settings, _stage_printer(as_json or bool(queries))).searcher(name)
    if queries is not None:
        items = read_queries(queries, options)
        for (text, _), hits in zip(items, searcher.search_batch(items, k)):
            _emit_json(result_json(text, hits))
        return
    hits = searcher.search(query, k, options)
    if as_json:
        _emit_json(result_json(query, hits))
        return
    for h in hits:
        byline = f", {h.author}" if h.author else ""
        click.echo(f"[{h.rank}] {h.score:.3f}  {h.title}{byline}  ({h.path})")
        click.echo("    " + h.text[:300].replace("\n", " "))


@cli.command()
@click.option("--name", help="Index name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def authors(settings, name: str | None, as_json: bool) -> None:
    """List the authors in an index with their number of poems."""
    from assistant.engine import Engine

    store = Engine(settings).open_index(name)
    rows = store.authors(kind="poem") or store.authors()
    if as_json:
        _emit_json([{"author": a, "count": n} for a, n in rows])
        return
    if not rows:
        click.echo("no authors in this index (index a poem corpus or use --layout ruslit)")
    for author, count in rows:
        click.echo(f"{count:>6}  {author}")


@cli.command()
@click.argument("question")
@click.option("--name", help="Index name.")
@click.option("-k", type=click.IntRange(1, 20), help="Passages to retrieve.")
@click.option("--no-rag", is_flag=True, help="Answer without retrieval.")
@click.option("--adapter", help="Adapter folder, or 'none' for the bare base model.")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), help="Answer length limit.")
@click.option("--no-check", is_flag=True, help="Skip checking the answer against its sources.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def ask(settings, question: str, name: str | None, k: int | None, no_rag: bool,
        adapter: str | None, max_new_tokens: int | None, no_check: bool, as_json: bool) -> None:
    """Answer QUESTION from the index, citing sources as [n], checked against them."""
    from assistant.cli.answer_output import print_answer
    from assistant.engine import Engine

    engine = Engine(settings, _stage_printer(as_json))
    prepared = engine.prepare_answer(question, k=k, use_rag=not no_rag, index_name=name,
                                     adapter=adapter, max_new_tokens=max_new_tokens)
    check = engine.check_answer if settings.check and not no_check else None
    print_answer(prepared, as_json, check)


@cli.command()
@click.option("--name", help="Index name (documents and poem modes).")
@click.option("--mode", type=click.Choice(["chat", "documents", "poem"]),
              help="Start in this mode (default: documents if the index exists, else chat).")
@click.option("--no-rag", is_flag=True, help="Chat without retrieval (same as --mode chat).")
@click.option("--author", help="Poem mode: write in this author's style.")
@click.option("--adapter", help="Adapter folder, or 'none'.")
@click.option("--resume", is_flag=True, help="Continue the last conversation.")
@click.option("--theme", type=click.Choice(["dark", "light"]), default="dark",
              show_default=True, help="Colour theme (Ctrl+T switches).")
@click.option("--plain", is_flag=True,
              help="A line-by-line loop instead of the app (also used when stdin is not a "
                   "terminal); an empty line or Ctrl+D quits.")
@click.pass_obj
def chat(settings, name: str | None, mode: str | None, no_rag: bool, author: str | None,
         adapter: str | None, resume: bool, theme: str, plain: bool) -> None:
    """Chat in the terminal: the Textual app (F1 inside for keys), or --plain."""
    if plain or not sys.stdin.isatty():
        from assistant.cli.answer_output import chat_loop
        from assistant.engine import Engine

        chat_loop(Engine(settings, _stage_printer(False)), name, not no_rag, adapter)
        return
    from assistant.chat.backend import ChatBackend
    from assistant.tui.app import LiraApp

    if mode is None:
        # index.store.CATALOG, named here because importing index.store pulls in numpy
        # and the app's first paint should not wait for it.
        has_index = (settings.index_dir(name) / "catalog.sqlite").is_file()
        mode = ("poem" if author else "chat" if no_rag or not has_index else "documents")
    app = LiraApp(settings, ChatBackend(settings), mode=mode, index_name=name, author=author,
                  adapter=adapter, resume=resume, theme=theme)
    app.run()
    if app.unfinished_work():
        # A model load or an indexing run cannot be interrupted, and its thread would keep
        # the process alive; everything it wrote is committed transactionally already.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(app.return_code or 0)


@cli.group("poem", invoke_without_command=True)
@click.option("--author", help="Write in this author's style (a name as `lira authors` lists).")
@click.option("--title", help="The poem's title.")
@click.option("--candidates", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Poems to generate; the best by form and fluency is printed.")
@click.option("-k", "examples", type=click.IntRange(0, 10), default=3, show_default=True,
              help="The author's poems shown to the model as style examples.")
@click.option("--name", help="Index to take the examples from.")
@click.option("--adapter", help="Adapter folder, or 'none' for the bare base model.")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), help="Poem length limit.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with the form and scores.")
@click.pass_context
def poem(ctx: click.Context, author: str | None, title: str | None, candidates: int,
         examples: int, name: str | None, adapter: str | None, max_new_tokens: int | None,
         as_json: bool) -> None:
    """Write a poem in an author's style: `lira poem --author A --title T`.

    Or analyse a poem's form: `lira poem analyze FILE`.
    """
    if ctx.invoked_subcommand is None:
        from assistant.cli.poem import write_poem

        write_poem(ctx.obj, author, title, candidates, examples, name, adapter, max_new_tokens,
                   as_json, _stage_printer(as_json))


@poem.command("analyze")
@click.argument("source", metavar="FILE|-")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def poem_analyze(source: str, as_json: bool) -> None:
    """Lines, stanzas, rhyme scheme (RIFMA letters) and metre of a poem.

    FILE is a text file (stanzas separated by blank lines) or '-' for stdin; a
    .jsonl file of {"text": ...} records gives one JSON result per line.
    """
    from assistant.cli.poem import analyze_cmd

    analyze_cmd(source, as_json)


def _train_options(func):
    """The many options of `lira train`, grouped: run, loop, adapter, data."""
    options = [
        click.option("--base", required=True,
                     help="Base model reference (HF id, folder or bundled name)."),
        click.option("--data", type=click.Path(path_type=Path), required=True, multiple=True,
                     help="Training data: a file or a folder of poems (repeat to mix files)."),
        click.option("--out", type=click.Path(path_type=Path), help="Adapter folder to write."),
        click.option("--name", help="Write to LIRA_HOME/adapters/NAME instead of --out."),
        click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint."),
        click.option("--overwrite", is_flag=True, help="Replace an existing output folder."),
        click.option("--epochs", type=float, default=3.0, show_default=True),
        click.option("--max-steps", type=int, help="Stop after this many optimizer steps."),
        click.option("--lr", type=float,
                     help="Learning rate [default: lora 2e-4, ia3 3e-3, prompt-tuning 3e-2]."),
        click.option("--batch-size", type=int, default=1, show_default=True),
        click.option("--grad-accum", type=int, default=1, show_default=True,
                     help="Gradient accumulation steps."),
        click.option("--warmup-steps", type=int, default=2, show_default=True,
                     help="Linear warm-up, then linear decay."),
        click.option("--weight-decay", type=float, default=0.0, show_default=True),
        click.option("--max-length", type=int, default=1024, show_default=True,
                     help="Longest example in tokens; longer ones are left out."),
        click.option("--eval-fraction", type=float, default=0.1, show_default=True,
                     help="Share of examples kept for evaluation (0: none)."),
        click.option("--eval-steps", type=int, default=100, show_default=True,
                     help="Evaluate and checkpoint every N steps."),
        click.option("--early-stopping", type=int, default=0, show_default=True,
                     help="Stop after N evaluations without improvement (0: never)."),
        click.option("--seed", type=int, default=42, show_default=True),
        click.option("--logging-steps", type=int, default=10, show_default=True),
        click.option("--quantization", type=click.Choice(["none", "8bit", "4bit"]), default="none",
                     show_default=True, help="Load the base in 8 or 4 bits (QLoRA)."),
        click.option("--gradient-checkpointing", is_flag=True, help="Trade compute for memory."),
        click.option("--full-logits", is_flag=True,
                     help="Compute logits at every position (slower; for comparison)."),
        click.option("--rank", type=int, default=8, show_default=True, help="LoRA rank."),
        click.option("--alpha", type=int, default=16, show_default=True, help="LoRA alpha."),
        click.option("--dropout", type=float, default=0.05, show_default=True, help="LoRA dropout."),
        click.option("--target-modules", help="Comma-separated layer names (default: detected)."),
        click.option("--feedforward-modules", help="IA3 feed-forward layers (default: detected)."),
        click.option("--virtual-tokens", type=int, default=20, show_default=True,
                     help="Prompt tuning: number of virtual tokens."),
        click.option("--prompt-init", help="Prompt tuning: start from this text's embeddings."),
        click.option("--format", "data_format", default="auto", show_default=True,
                     type=click.Choice(["auto", "instructions", "squad", "poems", "nli"])),
        click.option("--holdout-articles", type=int, default=0, show_default=True,
                     help="SQuAD: keep the last N articles out of training."),
        click.option("--holdout-per-author", type=int, default=0, show_default=True,
                     help="Poems: keep each author's last N poems out of training."),
        click.option("--poem-max-tokens", type=int, default=600, show_default=True,
                     help="Poems: leave out longer poems."),
        click.option("--max-per-author", type=int,
                     help="Poems: train on at most N poems of each author (a seeded sample)."),
        click.option("--max-examples", type=int, help="Use only the first N examples."),
        click.option("--test-data", type=click.Path(path_type=Path), multiple=True,
                     help="NLI: a file kept for the test (repeat); its set is not split."),
        click.option("--test-fraction", type=float, default=0.1, show_default=True,
                     help="NLI: share of each set without a --test-data file kept for the test."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command()
@click.argument("method", metavar="{lora,ia3,prompt-tuning}")
@_train_options
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.pass_context
def train(ctx: click.Context, method: str, base: str, data: tuple[Path, ...], out: Path | None,
          name: str | None, resume: bool, overwrite: bool, as_json: bool, **flags) -> None:
    """Train a LoRA, IA3 or prompt-tuning adapter on a base model.

    DATA is instruction JSONL (instruction/input/output, or rulm seed tasks with
    instances), a SQuAD file (grounded answers citing [n]) or a poem corpus
    (a file or a RusLit folder).  Writes peft's safetensors adapter and
    lira-adapter.json into --out (or LIRA_HOME/adapters/NAME).
    """
    from assistant.cli.training import command_line, run_train

    run_train(ctx.obj, method, base, data, out, name, resume, overwrite, as_json,
              command_line(ctx), _stage_printer(False), **flags)


@cli.group("adapters")
def adapters_group() -> None:
    """List installed adapters, or merge one into its base model."""


@adapters_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def adapters_list(settings, as_json: bool) -> None:
    """Adapters in LIRA_HOME/adapters (and bundled ones) with their manifests."""
    from assistant.cli.training import list_adapters_cmd

    list_adapters_cmd(settings, as_json)


@adapters_group.command("merge")
@click.argument("adapter", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for the merged model.")
@click.option("--base", help="Base model (default: the one the adapter records).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.pass_obj
def adapters_merge(settings, adapter: Path, out: Path, base: str | None, overwrite: bool) -> None:
    """Merge a LoRA or IA3 ADAPTER into its base and save a full model folder."""
    from assistant.cli.training import merge_cmd

    merge_cmd(settings, adapter, out, base, overwrite, _stage_printer(False))


@cli.group("eval")
def eval_group() -> None:
    """Evaluate: retrieval and answers, poems, grounding checks, chrF++."""


@eval_group.command("chrf")
@click.option("--hyp", "hyp", type=click.Path(path_type=Path), required=True,
              help="Hypotheses, one segment per line.")
@click.option("--ref", "ref", type=click.Path(path_type=Path), required=True,
              help="References, one segment per line.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def eval_chrf(hyp: Path, ref: Path, as_json: bool) -> None:
    """Corpus and sentence chrF++ of HYP against REF (sacrebleu, word_order=2)."""
    from assistant.evals.chrf import chrf_report, read_segments

    report = chrf_report(read_segments(hyp), read_segments(ref))
    if as_json:
        _emit_json(report)
        return
    click.echo(f"chrF++ {report['corpus']:.2f} over {report['n']} segments "
               f"({report['normalisation']})")
    for number, score in enumerate(report["sentences"], 1):
        click.echo(f"{number:>5}  {score:6.2f}")


def _grounding_options(func):
    """Options shared by `lira check` and `lira eval check`: the models they use."""
    func = click.option("--no-embeddings", is_flag=True,
                        help="Go by facts and wording only (no embedder is loaded).")(func)
    return click.option("--nli", help="NLI model: a Lira NLI adapter (folder or name), a "
                                      "classifier folder or cached Hub id, or 'none' "
                                      "(default: the nli setting, auto = the bundled one).")(func)


@cli.command("check")
@click.option("--answer", help="The answer text to check.")
@click.option("--answer-file", type=click.Path(path_type=Path), help="Read the answer from a file.")
@click.option("--source-file", "source_files", type=click.Path(path_type=Path), multiple=True,
              help="A source text (repeat for several).")
@_grounding_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def check(settings, answer: str | None, answer_file: Path | None,
          source_files: tuple[Path, ...], nli: str | None, no_embeddings: bool,
          as_json: bool) -> None:
    """Judge each sentence of an answer against the sources: supported, contradicted or
    unsupported, with a score and the evidence (numbers, dates, names, quotations,
    negation, wording, embeddings and the NLI model)."""
    from assistant.cli.check import report_lines, run_check

    report = run_check(settings, answer, answer_file, source_files, not no_embeddings, nli,
                       _stage_printer(as_json))
    if as_json:
        _emit_json(report.to_dict())
        return
    click.echo("\n".join(report_lines(report)))


@eval_group.command("check")
@click.option("--claims", type=click.Path(path_type=Path), required=True,
              help='JSONL: {"claim", "sources": [text, ...], "label"} per line.')
@_grounding_options
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

    _emit_json(run_eval_check(settings, claims, nli, not no_embeddings, out,
                              _stage_printer(False)))


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
    --out, then reports recall@k and MRR, the answers' exact match, token F1
    and chrF++, and their grounding verdicts.
    """
    from assistant.cli.evaluation import rag_cmd

    rag_cmd(settings, as_json, _stage_printer(as_json), **flags)


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

    chrF++ against the originals, rhyme-scheme agreement, line-count ratio,
    self-stop rate and distinct-1/2, overall and per author.
    """
    from assistant.cli.evaluation import poetry_cmd

    poetry_cmd(settings, authors, as_json, _stage_printer(as_json), **flags)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn errors into one line."""
    quiet_libraries()
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("LIRA_DEBUG", "") not in ("", "0")
    try:
        cli.main(args=args, prog_name="lira", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("lira: interrupted", err=True)
        return EXIT_INTERRUPTED
    except USER_ERRORS as exc:
        return _report(exc, debug, f"lira: error: {exc}")
    except Exception as exc:  # a bug: still one line unless --debug
        return _report(exc, debug, f"lira: unexpected error: {type(exc).__name__}: {exc} "
                                   "(run with --debug for the traceback)")
    return 0


def _report(exc: BaseException, debug: bool, line: str) -> int:
    if debug:
        traceback.print_exception(exc)
    click.echo(line.splitlines()[0] if line else "lira: error", err=True)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
