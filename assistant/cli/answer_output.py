"""Printing answers in the shell: streamed text, then its sources, one per document.

The engine finishes an answer (Engine.finish_answer: cited numbers, the
grounding check); this module only prints the stream and formats the Answer.
Citations are shown in the documents' numbers (assistant.source_groups), as
the text streams and in JSON; the engine's per-passage numbers stay in
``passages`` and the grounding report.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from assistant.chat.backend import NOTHING_CHECKED
from assistant.engine import Answer, Engine, PreparedAnswer
from assistant.followup import Turn
from assistant.safe_text import one_line, printable
from assistant.source_groups import (
    SourceGroups,
    grounding_dict,
    group_sources,
    passage_dicts,
)

MARKS = ("«", "»")  # around an evidence window in plain text; bold on a terminal
BOLD = ("\x1b[1m", "\x1b[0m")
CONTEXT = 80  # characters of the passage shown either side of an evidence window


def print_answer(engine: Engine, prepared: PreparedAnswer, as_json: bool,
                 check: bool = False) -> Answer:
    """Stream the answer to stdout (or collect it for JSON), list its sources and,
    with ``check`` and sources, print how well they support it; returns the Answer."""
    if prepared.note and not as_json:
        click.echo(f"lira: {prepared.note}", err=True)
    if as_json:
        answer = engine.finish_answer(prepared, check=check)
        click.echo(json.dumps(answer_json(answer), ensure_ascii=False))
        return answer
    pieces = []
    shown = group_sources(prepared.sources).stream()  # [n] as the documents are numbered
    for piece in prepared.stream:
        pieces.append(piece)
        _write(shown.feed(piece))
    _write(shown.close())
    click.echo()
    answer = engine.finish_answer(prepared, "".join(pieces))
    for line in source_lines(answer):
        click.echo(line)
    if check and answer.text:  # the sources are listed before the (slow) check runs
        answer = engine.checked(answer)
        if answer.check is not None:
            click.echo(check_line(answer.check))
            marks = BOLD if sys.stdout.isatty() else MARKS
            for line in evidence_lines(group_sources(answer.sources, answer.check), marks):
                click.echo(line)
        if answer.repair is not None:  # on_unsupported: what was dropped or asked again
            click.echo(f"Исправление: {answer.repair.note}")
            if answer.text != answer.repair.original:
                click.echo(printable(group_sources(answer.sources).renumber(answer.text), lines=True))
    return answer


def _write(text: str) -> None:
    if text:
        sys.stdout.write(printable(text, lines=True))
        sys.stdout.flush()


def check_line(report: Any) -> str:
    """'Проверка: 0.67 — подтверждено 2, не подтверждено 1' for a grounding report."""
    if report.nothing_checked:
        return f"Проверка по источникам: нечего проверять — {NOTHING_CHECKED}"
    counts = report.counts()
    parts = [f"{LABELS[v]} {n}" for v, n in counts.items() if n]
    return f"Проверка по источникам: {report.score:.2f}" + (f" — {', '.join(parts)}"
                                                           if parts else "")


LABELS = {"supported": "подтверждено", "contradicted": "противоречит",
          "unsupported": "не подтверждено"}


def answer_json(answer: Answer) -> dict:
    """The `lira ask --json` object.

    ``sources``: one entry per document (assistant.source_groups.Document: n, path,
    title, author, rank, relevance, passages with the character offsets of the
    evidence windows the check used); ``answer`` and ``cited`` in those numbers;
    ``passages``: the retrieved passages as the prompt numbered them, each with its
    ``document``; ``grounding``: null when the answer was not checked, its evidence
    naming its ``document`` too.  ``searched``: the query searched (the question, or
    a follow-up's standalone form), null when answered without retrieval."""
    stats = answer.stats
    groups = group_sources(answer.sources, answer.check)
    return {
        "answer": groups.renumber(answer.text),
        "model": {"reference": answer.model, "adapter": answer.adapter},
        "sources": [d.to_dict() for d in groups.documents],
        "cited": groups.cited(answer.cited),
        "passages": passage_dicts(answer.sources, groups),
        "retrieval": answer.retrieval,
        "searched": answer.searched,
        "note": answer.note,
        "stats": {"prompt_tokens": stats.prompt_tokens, "new_tokens": stats.new_tokens,
                  "first_token_s": round(stats.first_token_s or 0.0, 3),
                  "total_s": round(stats.total_s, 3), "stopped_by": stats.stopped_by,
                  "reused_tokens": stats.reused_tokens},
        "grounding": grounding_dict(answer.check, groups),
        "repair": answer.repair.to_dict(groups.renumber) if answer.repair is not None else None,
    }


def source_lines(answer: Answer) -> list[str]:
    """'[n] title — path (место r, релевантность 0.98)' lines, one per document, cited
    ones marked with '*'."""
    if not answer.sources:
        return []
    groups = group_sources(answer.sources)
    cited = set(groups.cited(answer.cited))
    follow_up = answer.follow_up
    searched = (f" (искал: «{one_line(follow_up.searched)}»)"
                if follow_up is not None and follow_up.rewritten else "")
    lines = ["", f"Источники{searched}:"]
    for d in groups.documents:
        mark = "*" if d.n in cited else " "
        where = f" — {d.path}" if d.path else ""
        parts = f", фрагментов {len(d.numbers)}" if len(d.numbers) > 1 else ""
        lines.append(one_line(f"{mark}[{d.n}] {d.name}{where} "
                              f"(место {d.rank}, релевантность {d.relevance:.2f}{parts})"))
    return lines


def evidence_lines(groups: SourceGroups, marks: tuple[str, str] = MARKS) -> list[str]:
    """Where in its document each checked claim found its evidence: '[n] …text «window»
    text…' per claim (``marks`` around the window), or nothing when no claim has any."""
    lines = []
    for document in groups.documents:
        for passage in document.passages:
            for mark in passage.highlights:
                left = max(0, mark.start - CONTEXT)
                right = min(len(passage.text), mark.end + CONTEXT)
                excerpt = (("…" if left else "") + one_line(passage.text[left:mark.start])
                           + marks[0] + one_line(passage.text[mark.start:mark.end]) + marks[1]
                           + one_line(passage.text[mark.end:right])
                           + ("…" if right < len(passage.text) else ""))
                lines.append((mark.claim, f"  {mark.claim + 1}. [{document.n}] {excerpt}"))
    return (["Опора в источниках:"] + [line for _, line in sorted(lines)]) if lines else []


def chat_loop(engine: Engine, index_name: str | None, use_rag: bool, adapter: str | None) -> None:
    """A line-by-line chat until an empty line, /quit or end of input; each question is
    read as a follow-up of the ones before (assistant.followup)."""
    click.echo("Лира: задайте вопрос (пустая строка или Ctrl+D — выход).")
    turns: list[Turn] = []
    while True:
        try:
            question = input("› ").strip()
        except EOFError:
            break
        if question in ("", "/quit", "/exit"):
            break
        prepared = engine.prepare_answer(question, use_rag=use_rag, index_name=index_name,
                                         adapter=adapter, turns=turns)
        answer = print_answer(engine, prepared, as_json=False)
        turns.append(Turn(question, answer.text, answer.searched or "", tuple(answer.sources)))
        click.echo()
