"""`lira check`: an answer's sentences judged against source files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.root import emit_json, stage_printer

if TYPE_CHECKING:  # annotations only: `lira --help` does not load the settings
    from assistant.settings import Settings

_MARKS = {"supported": ("✓", "green"), "contradicted": ("✗", "red"),
          "unsupported": ("?", "yellow")}


def grounding_options(func):
    """Options shared by `lira check` and `lira eval check`: the models they use."""
    func = click.option("--no-embeddings", is_flag=True,
                        help="Go by facts and wording only (no embedder is loaded).")(func)
    return click.option("--nli", help="NLI model: a Lira NLI adapter (folder or name), a "
                                      "classifier folder or cached Hub id, or 'none' "
                                      "(default: the nli setting, auto = the bundled one).")(func)


@click.command("check")
@click.option("--answer", help="The answer text to check.")
@click.option("--answer-file", type=click.Path(path_type=Path), help="Read the answer from a file.")
@click.option("--question", help="The question the answer answers: its first sentence is then "
                                 "judged as the answer to it, as `lira ask` and the chat do "
                                 "(the chat model reads it too, unless --no-confidence).")
@click.option("--no-confidence", is_flag=True,
              help="With --question: leave the chat model's reading of the answer out (its "
                   "confidence, and its answer over the sources in reverse order).")
@click.option("--source-file", "source_files", type=click.Path(path_type=Path), multiple=True,
              help="A source text (repeat for several).")
@grounding_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def check(settings, answer: str | None, answer_file: Path | None, question: str | None,
          no_confidence: bool, source_files: tuple[Path, ...], nli: str | None,
          no_embeddings: bool, as_json: bool) -> None:
    """Judge each sentence of an answer against the sources: supported, contradicted or
    unsupported, with a score and the evidence (numbers, dates, names, quotations,
    negation, wording, embeddings and the NLI model)."""
    report = run_check(settings, answer, answer_file, source_files, not no_embeddings, nli,
                       stage_printer(as_json), question, not no_confidence)
    if as_json:
        emit_json(report.to_dict())
        return
    click.echo("\n".join(report_lines(report)))


def run_check(settings: Settings, answer: str | None, answer_file: Path | None,
              source_files: tuple[Path, ...], use_embedder: bool, nli: str | None,
              progress: Callable[[str], None] | None, question: str | None = None,
              use_confidence: bool = True):
    """Read the inputs, load the models and check the answer (as the answer to ``question``
    when one is given)."""
    from assistant.engine import Engine
    from assistant.grounding import GroundingError, SourceText, check_answer
    from assistant.grounding.confidence import read_answer
    from assistant.grounding.inputs import read_text
    from assistant.runtime import compute

    if (answer is None) == (answer_file is None):
        raise click.UsageError("give --answer TEXT or --answer-file FILE (one of them)")
    if not source_files:
        raise click.UsageError("give at least one --source-file FILE")
    text = answer if answer is not None else read_text(answer_file, "answer")
    if not text.strip():
        raise GroundingError("the answer is empty; give the text to check")
    if question is not None and not question.strip():
        raise GroundingError("the question is empty; give the question the answer answers "
                             "or leave --question out")
    sources = [SourceText(str(path), read_text(path, "source"), n)
               for n, path in enumerate(source_files, 1)]
    engine = Engine(settings, progress)
    embedder, scorer = engine.check_models(nli, use_embedder)
    reading = None
    if question is not None and use_confidence:
        reading = compute.run(read_answer, engine.generator("chat"), question, text, sources)
    return check_answer(text, sources, embedder, scorer, question=question, reading=reading)


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
    if report.nothing_checked:
        lines.append("nothing to check: no sentence states a fact or a content word "
                     "(such as «Да.»), so the sources can neither support nor contradict it")
        return lines
    counts = ", ".join(f"{n} {verdict}" for verdict, n in report.counts().items())
    lines.append(f"score {report.score:.2f} ({counts})")
    return lines
