"""`lira check`: an answer's sentences judged against source files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from assistant.grounding.errors import GroundingError
from assistant.settings import Settings

_MARKS = {"supported": ("✓", "green"), "contradicted": ("✗", "red"),
          "unsupported": ("?", "yellow")}


def run_check(settings: Settings, answer: str | None, answer_file: Path | None,
              source_files: tuple[Path, ...], use_embedder: bool, nli: str | None,
              progress: Callable[[str], None] | None):
    """Read the inputs, load the models and check the answer."""
    from assistant.engine import Engine
    from assistant.grounding import SourceText, check_answer
    from assistant.grounding.inputs import read_text

    if (answer is None) == (answer_file is None):
        raise click.UsageError("give --answer TEXT or --answer-file FILE (one of them)")
    if not source_files:
        raise click.UsageError("give at least one --source-file FILE")
    text = answer if answer is not None else read_text(answer_file, "answer")
    if not text.strip():
        raise GroundingError("the answer is empty; give the text to check")
    sources = [SourceText(str(path), read_text(path, "source"), n)
               for n, path in enumerate(source_files, 1)]
    embedder, scorer = Engine(settings, progress).check_models(nli, use_embedder)
    return check_answer(text, sources, embedder, scorer)


def report_lines(report) -> list[str]:
    """The text-mode report: a mark, verdict and score per sentence, its evidence, a total."""
    lines = []
    for sentence in report.sentences:
        mark, colour = _MARKS[sentence.verdict]
        head = click.style(f"{mark} {sentence.verdict:<12}", fg=colour, bold=True)
        lines.append(f"{head} {sentence.score:.2f}  {sentence.text}")
        if sentence.evidence:
            lines.append(click.style(f"    {sentence.evidence.source}: {sentence.evidence.text}",
                                     dim=True))
    counts = ", ".join(f"{n} {verdict}" for verdict, n in report.counts().items())
    lines.append(f"score {report.score:.2f} ({counts})")
    return lines
