"""`lira search` and `lira authors`: passages and authors of an index, as text or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.root import emit_json, stage_printer
from assistant.errors import SettingsError
from assistant.safe_text import one_line, printable

if TYPE_CHECKING:  # index.search imports numpy and the store: not at start-up
    from index.search import Hit, SearchOptions


def filter_options(func):
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


@click.command()
@click.argument("query", required=False)
@click.option("--queries", type=click.Path(path_type=Path, dir_okay=False),
              help="File of queries (one a line, or JSONL with query and filters).")
@click.option("--name", help="Index name.")
@click.option("-k", type=click.IntRange(1, 100), default=5, show_default=True, help="Results.")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def search(settings, query: str | None, queries: Path | None, name: str | None, k: int,
           as_json: bool, **search_flags) -> None:
    """Search an index for passages matching QUERY (or every query in --queries)."""
    from assistant.engine import Engine

    if (query is None) == (queries is None):
        raise click.UsageError("give a QUERY or --queries FILE (not both)")
    options = _search_options(**search_flags)
    searcher = Engine(settings, stage_printer(as_json or bool(queries))).searcher(name)
    if queries is not None:
        items = read_queries(queries, options)
        for (text, _), hits in zip(items, searcher.search_batch(items, k)):
            emit_json(result_json(text, hits))
        return
    hits = searcher.search(query, k, options)
    if as_json:
        emit_json(result_json(query, hits))
        return
    for h in hits:
        byline = f", {h.author}" if h.author else ""
        click.echo(one_line(f"[{h.rank}] {h.score:.3f}  {h.title}{byline}  ({h.path})"))
        click.echo("    " + one_line(h.text[:300]))


@click.command()
@click.option("--name", help="Index name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def authors(settings, name: str | None, as_json: bool) -> None:
    """List the authors in an index with their number of poems."""
    from assistant.engine import Engine

    rows = Engine(settings).authors(name)
    if as_json:
        emit_json([{"author": a, "count": n} for a, n in rows])
        return
    if not rows:
        click.echo("no authors in this index (index a poem corpus or use --layout ruslit)")
    for author, count in rows:
        click.echo(f"{count:>6}  {printable(author)}")


JSON_FIELDS = ("rank", "score", "path", "title", "author", "text")


def hit_json(hit: Hit) -> dict:
    """A search result as `lira search --json` prints it."""
    data = hit.to_dict()
    return {key: data[key] for key in JSON_FIELDS}


def result_json(query: str, hits: list[Hit]) -> dict:
    return {"query": query, "results": [hit_json(h) for h in hits]}


def read_queries(path: Path, defaults: SearchOptions) -> list[tuple[str, SearchOptions]]:
    """Queries from a file: plain lines, or JSONL with "query" and optional filters."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read queries from {path} ({exc}); "
                            "give a UTF-8 file with one query per line") from exc
    items = list(_parse(lines, path, defaults))
    if not items:
        raise SettingsError(f"{path} holds no queries; put one query per line")
    return items


def _parse(lines: list[str], path: Path, defaults: SearchOptions) -> Iterator[tuple[str, SearchOptions]]:
    from index.filters import Filters
    from index.search import SearchOptions

    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith("{"):
            yield line, defaults
            continue
        try:
            record = json.loads(line)
            query = str(record["query"])
            filters = Filters.from_dict(record) if _has_filters(record) else defaults.filters
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SettingsError(f"{path}:{number}: not a query record ({exc}); "
                                'use {"query": "...", "author": "..."}') from exc
        yield query, SearchOptions(mode=record.get("mode", defaults.mode), filters=filters,
                                   mmr=record.get("mmr", defaults.mmr))


def _has_filters(record: dict) -> bool:
    return any(key in record for key in ("author", "title", "path", "year_from", "year_to", "kind"))
