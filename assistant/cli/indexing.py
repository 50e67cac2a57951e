"""`lira index`: index a folder (re-runs sync what changed), with a progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.root import emit_json, stage_printer
from assistant.safe_text import one_line
from index.errors import IndexFailure

if TYPE_CHECKING:  # annotations only: `lira --help` does not load the settings
    from assistant.settings import Settings


@click.command("index")
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
    report = run_index(settings, path, name, layout=layout,
                       quiet=as_json or not sys.stderr.isatty(),
                       progress=stage_printer(as_json))
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo("\n".join(summary_lines(report)))
    if report.added + report.updated + report.unchanged == 0:
        raise IndexFailure(f"nothing indexed under {path}: no readable documents")


def run_index(settings: Settings, path: Path, name: str | None, quiet: bool,
              progress: Callable[[str], None] | None = None,
              layout: str = "auto"):
    """Index ``path`` into index ``name``, showing a bar unless ``quiet``."""
    from assistant.engine import Engine

    engine = Engine(settings, progress)
    with _ProgressBar(quiet) as update:
        return engine.index_path(path, name, layout, update)


class _ProgressBar:
    """A tqdm bar fed by the ingest progress callback (files, total, chunks)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None

    def __enter__(self):
        return None if self.quiet else self.update

    def update(self, done: int, total: int, chunks: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="file", file=sys.stderr, dynamic_ncols=True)
        elapsed = self.bar.format_dict["elapsed"] or 1e-9
        # a large file reports its chunks as it commits them, before the file count moves
        self.bar.set_postfix_str(f"{chunks} chunks, {chunks / elapsed:.1f} chunks/s",
                                 refresh=done == self.bar.n)
        self.bar.update(done - self.bar.n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def summary_lines(report) -> list[str]:
    """The human summary of an indexing run."""
    lines = [f"added {report.added}, updated {report.updated}, removed {report.removed}, "
             f"unchanged {report.unchanged}, skipped {len(report.skipped)}; "
             f"{report.chunks} chunks in {report.seconds:.1f} s"]
    lines += [one_line(f"  skipped {s['path']}: {s['reason']}") for s in report.skipped[:20]]
    if len(report.skipped) > 20:
        lines.append(f"  ... and {len(report.skipped) - 20} more (see --json)")
    lines += [one_line(f"  in part {t['path']}: {t['reason']}") for t in report.truncated[:20]]
    return lines
