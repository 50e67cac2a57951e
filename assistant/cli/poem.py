"""`lira poem`: write a poem in an author's style, or analyse the form of poems.

Imported by the CLI at start, so only click and the standard library are
imported here; models and the stress model load inside the commands.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from assistant.cli.root import stage_printer
from assistant.errors import LiraError


@click.group("poem", invoke_without_command=True)
@click.option("--author", help="Write in this author's style (a name as `lira authors` lists).")
@click.option("--title", help="The poem's title.")
@click.option("--candidates", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Poems to generate; the best by form and fluency is printed.")
@click.option("-k", "examples", type=click.IntRange(0, 10), default=3, show_default=True,
              help="The author's poems shown to the model as style examples.")
@click.option("--name", help="Index to take the examples from.")
@click.option("--adapter", help="Adapter folder, or 'none' for the bare base model.")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), help="Poem length limit.")
@click.option("--scheme", help="Keep this rhyme scheme in every stanza: ABAB, AABB, ABBA (or "
              "letters and '-'), or auto (the author's commonest).")
@click.option("--metre", help="Keep this metre: iamb, trochee, dactyl, amphibrach, anapaest, "
              "or auto (the author's commonest).")
@click.option("--feet", type=click.IntRange(1, 8), help="Feet per line in that metre.")
@click.option("--stanzas", type=click.IntRange(1, 20),
              help="Stanzas to write (default: until the model ends the poem).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with the form and scores.")
@click.pass_context
def poem(ctx: click.Context, author: str | None, title: str | None, candidates: int,
         examples: int, name: str | None, adapter: str | None, max_new_tokens: int | None,
         scheme: str | None, metre: str | None, feet: int | None, stanzas: int | None,
         as_json: bool) -> None:
    """Write a poem in an author's style: `lira poem --author A --title T`.

    With --scheme, --metre, --feet or --stanzas the poem is written line by line,
    each line kept only if it rhymes and scans as asked (the rest of the form
    is the author's commonest; --candidates does not apply).  Or analyse a
    poem's form: `lira poem analyze FILE`.
    """
    if ctx.invoked_subcommand is None:
        request = PoemRequest(author, title, examples, name, adapter, max_new_tokens, as_json)
        if any(v is not None for v in (scheme, metre, feet, stanzas)):
            write_form_poem(ctx.obj, request, (scheme, metre, feet, stanzas),
                            stage_printer(as_json))
        else:
            write_poem(ctx.obj, request, candidates, stage_printer(as_json))


@poem.command("analyze")
@click.argument("source", metavar="FILE|-")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def poem_analyze(source: str, as_json: bool) -> None:
    """Lines, stanzas, rhyme scheme (RIFMA letters) and metre of a poem.

    FILE is a text file (stanzas separated by blank lines) or '-' for stdin; a
    .jsonl file of {"text": ...} records gives one JSON result per line.
    """
    analyze_cmd(source, as_json)


def _echo_json(data: dict) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


# ----- lira poem analyze ------------------------------------------------------
def analyze_cmd(source: str, as_json: bool) -> None:
    """Analyse a poem file, stdin ('-'), or every record of a JSONL file."""
    from assistant.poetry import stress
    from assistant.poetry.form import analyze_poem

    if not stress.available():
        click.echo("lira: silero-stress is not installed: rhymes compared by letters, "
                   "no metre", err=True)
    if source != "-" and source.endswith(".jsonl"):
        for text in _jsonl_texts(Path(source)):
            _echo_json(_analysis_or_error(text))
        return
    form = analyze_poem(_read_text(source))
    if as_json:
        _echo_json(form.to_dict())
        return
    metre = f"{form.metre}, {form.feet} feet" if form.metre else "not found"
    click.echo(f"lines: {form.lines}\nstanzas: {form.stanzas}\n"
               f"rhyme scheme: {form.rhyme_scheme}\nmetre: {metre}")


def _analysis_or_error(text: str) -> dict:
    from assistant.poetry.form import EmptyPoem, analyze_poem

    try:
        return analyze_poem(text).to_dict()
    except EmptyPoem as exc:
        return {"error": str(exc)}  # one bad record does not stop the others


MAX_INPUT_BYTES = 64 * 2**20  # a poem, or a JSONL file of many: far more than RIFMA's 4,000


def _read_text(source: str) -> str:
    """The UTF-8 text of a file or of stdin ('-'), judged the same way from either."""
    shown = "stdin" if source == "-" else source
    try:
        if source == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(source, "rb") as file:
                data = file.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise LiraError(f"cannot read {shown}: {exc.strerror or exc}; give a UTF-8 text file "
                        "or '-' for stdin") from exc
    if len(data) > MAX_INPUT_BYTES:
        raise LiraError(f"{shown} is larger than {MAX_INPUT_BYTES // 2**20} MB; give a poem "
                        "or a JSONL file of poems")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LiraError(f"{shown} is not UTF-8 text (byte {exc.start}); give a UTF-8 text "
                        "file or '-' for stdin") from exc
    if "\x00" in text:
        raise LiraError(f"{shown} is binary (it holds NUL bytes); give a UTF-8 text file")
    return text


def _jsonl_texts(path: Path) -> Iterator[str]:
    for number, line in enumerate(_read_text(str(path)).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LiraError(f"{path}:{number} is not JSON ({exc.msg}); "
                            'write one {"text": ...} object a line') from exc
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise LiraError(f'{path}:{number} has no "text"; '
                            'write one {"text": ...} object a line')
        yield record["text"]


# ----- lira poem --author A --title T -----------------------------------------
@dataclass(frozen=True)
class PoemRequest:
    """The options of `lira poem` that every way of writing shares."""

    author: str | None
    title: str | None
    k: int
    index_name: str | None
    adapter: str | None
    max_new_tokens: int | None
    as_json: bool


def _prepare(settings, request: PoemRequest, progress, form=None):
    """The engine and the prepared poem (its stream started); notes go to stderr."""
    from assistant.engine import Engine
    from assistant.poetry.authors import check_author
    from assistant.poetry.compose import prepare_poem

    author, title = (request.author or "").strip(), (request.title or "").strip()
    if not author or not title:
        raise click.UsageError("give --author and --title (or `lira poem analyze FILE`)")
    engine = Engine(settings, progress)
    check_author(engine, author, request.index_name)
    prepared = prepare_poem(engine, author, title, k=request.k, index_name=request.index_name,
                            adapter=request.adapter, max_new_tokens=request.max_new_tokens,
                            form=form)
    if prepared.note:
        click.echo(f"lira: {prepared.note}", err=True)
    return engine, prepared


def write_poem(settings, request: PoemRequest, candidates: int,
               progress: Callable[[str], None] | None) -> None:
    """Generate ``candidates`` poems, print the best by form and fluency."""
    from assistant.poetry.choice import best, generate_candidates

    engine, prepared = _prepare(settings, request, progress)
    generator = engine.generator("poem", request.adapter)
    found = generate_candidates(generator, prepared.prompt, prepared.stream, candidates,
                                progress)
    index = best(found)
    chosen = found[index]
    if not request.as_json:
        click.echo(chosen.text)
        return
    _echo_json(_poem_json(generator, prepared, chosen.text,
                          {"requested": None, "achieved": chosen.form.to_dict()})
               | {"candidates": candidates, "chosen": index,
                  "scores": [c.scores() for c in found]})


def write_form_poem(settings, request: PoemRequest, form: tuple,
                    progress: Callable[[str], None] | None) -> None:
    """Write a poem line by line in a form (assistant.poetry.constrained); print each line
    as it is kept, then the form asked for and the form written."""
    from assistant.poetry.constrained_form import FormAsk

    engine, prepared = _prepare(settings, request, progress, FormAsk(*form))
    stream = prepared.stream
    for piece in stream:
        if not request.as_json:
            click.echo(piece, nl=False)
    report = stream.report()
    if not request.as_json:
        click.echo()
        click.echo(f"lira: {stream.note()}", err=True)
        return
    generator = engine.generator("poem", request.adapter)
    _echo_json(_poem_json(generator, prepared, stream.text, report))


def _poem_json(generator, prepared, text: str, form: dict) -> dict:
    loaded = generator.loaded
    return {"poem": text, "author": prepared.author, "title": prepared.title,
            "model": {"reference": loaded.name,
                      "adapter": Path(loaded.adapter).name if loaded.adapter else None},
            "examples": [{"title": s.title, "path": s.path} for s in prepared.examples],
            "form": form, "note": prepared.note}
