"""`lira eval rag` and `lira eval poetry`: run, write the report folder, print the figures.

Imported by the CLI only when one of them runs; the evaluations themselves
live in assistant.evals.rag and assistant.evals.poetry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from assistant.settings import Settings

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
