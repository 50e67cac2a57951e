"""Printing answers in the shell: streamed text, then numbered sources.

The engine finishes an answer (Engine.finish_answer: cited numbers, the
grounding check); this module only prints the stream and formats the Answer.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from assistant.engine import Answer, Engine, PreparedAnswer
from assistant.followup import Turn
from assistant.safe_text import one_line, printable


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
    for piece in prepared.stream:
        pieces.append(piece)
        sys.stdout.write(printable(piece, lines=True))
        sys.stdout.flush()
    click.echo()
    answer = engine.finish_answer(prepared, "".join(pieces))
    for line in source_lines(answer):
        click.echo(line)
    if check and answer.text:  # the sources are listed before the (slow) check runs
        answer = engine.checked(answer)
        if answer.check is not None:
            click.echo(check_line(answer.check))
    return answer


def check_line(report: Any) -> str:
    """'Проверка: 0.67 — подтверждено 2, не подтверждено 1' for a grounding report."""
    counts = report.counts()
    parts = [f"{LABELS[v]} {n}" for v, n in counts.items() if n]
    return f"Проверка по источникам: {report.score:.2f}" + (f" — {', '.join(parts)}"
                                                           if parts else "")


LABELS = {"supported": "подтверждено", "contradicted": "противоречит",
          "unsupported": "не подтверждено"}


def answer_json(answer: Answer) -> dict:
    """The `lira ask --json` object; ``grounding`` is null when the answer was not checked,
    ``searched`` (the query searched: the question, or a follow-up's standalone form)
    when it was answered without retrieval."""
    stats = answer.stats
    return {
        "answer": answer.text,
        "model": {"reference": answer.model, "adapter": answer.adapter},
        "sources": [{k: s.to_dict()[k] for k in ("n", "path", "title", "text", "score")}
                    for s in answer.sources],
        "cited": answer.cited,
        "retrieval": answer.retrieval,
        "searched": answer.searched,
        "note": answer.note,
        "stats": {"prompt_tokens": stats.prompt_tokens, "new_tokens": stats.new_tokens,
                  "first_token_s": round(stats.first_token_s or 0.0, 3),
                  "total_s": round(stats.total_s, 3), "stopped_by": stats.stopped_by,
                  "reused_tokens": stats.reused_tokens},
        "grounding": answer.check.to_dict() if answer.check is not None else None,
    }


def source_lines(answer: Answer) -> list[str]:
    """'[n] title — path (score)' lines, cited ones marked with '*'."""
    if not answer.sources:
        return []
    cited = set(answer.cited)
    follow_up = answer.follow_up
    searched = (f" (искал: «{one_line(follow_up.searched)}»)"
                if follow_up is not None and follow_up.rewritten else "")
    lines = ["", f"Источники{searched}:"]
    for s in answer.sources:
        mark = "*" if s.n in cited else " "
        lines.append(one_line(f"{mark}[{s.n}] {s.title} — {s.path} ({s.score:.3f})"))
    return lines


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
