"""Printing answers in the shell: streamed text, then numbered sources."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from assistant.engine import Engine, PreparedAnswer
from assistant.rag import Source, cited_numbers

Check = Callable[[str, Sequence[Source]], Any]  # Engine.check_answer


def print_answer(prepared: PreparedAnswer, as_json: bool, check: Check | None = None) -> None:
    """Stream the answer to stdout (or collect it for JSON), list its sources and,
    when ``check`` is given and there are sources, judge the answer against them."""
    if prepared.note and not as_json:
        click.echo(f"lira: {prepared.note}", err=True)
    if as_json:
        text = "".join(prepared.stream).strip()
        report = check(text, prepared.sources) if check and prepared.sources else None
        click.echo(json.dumps(answer_json(prepared, text, report), ensure_ascii=False))
        return
    pieces = []
    for piece in prepared.stream:
        pieces.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()
    click.echo()
    text = "".join(pieces)
    for line in source_lines(prepared, text):
        click.echo(line)
    if check and prepared.sources and text.strip():
        click.echo(check_line(check(text, prepared.sources)))


def check_line(report: Any) -> str:
    """'Проверка: 0.67 — подтверждено 2, не подтверждено 1' for a grounding report."""
    counts = report.counts()
    parts = [f"{LABELS[v]} {n}" for v, n in counts.items() if n]
    return f"Проверка по источникам: {report.score:.2f}" + (f" — {', '.join(parts)}"
                                                           if parts else "")


LABELS = {"supported": "подтверждено", "contradicted": "противоречит",
          "unsupported": "не подтверждено"}


def answer_json(prepared: PreparedAnswer, text: str, report: Any = None) -> dict:
    """The `lira ask --json` object; ``grounding`` is null when the answer was not checked."""
    stats = prepared.stream.stats
    return {
        "answer": text,
        "sources": [{k: s.to_dict()[k] for k in ("n", "path", "title", "text", "score")}
                    for s in prepared.sources],
        "cited": cited_numbers(text, len(prepared.sources)),
        "retrieval": prepared.retrieval,
        "note": prepared.note,
        "stats": {"prompt_tokens": stats.prompt_tokens, "new_tokens": stats.new_tokens,
                  "first_token_s": round(stats.first_token_s or 0.0, 3),
                  "total_s": round(stats.total_s, 3), "stopped_by": stats.stopped_by,
                  "reused_tokens": stats.reused_tokens},
        "grounding": report.to_dict() if report is not None else None,
    }


def source_lines(prepared: PreparedAnswer, text: str) -> list[str]:
    """'[n] title — path (score)' lines, cited ones marked with '*'."""
    if not prepared.sources:
        return []
    cited = set(cited_numbers(text, len(prepared.sources)))
    lines = ["", "Источники:"]
    for s in prepared.sources:
        mark = "*" if s.n in cited else " "
        lines.append(f"{mark}[{s.n}] {s.title} — {s.path} ({s.score:.3f})")
    return lines


def chat_loop(engine: Engine, index_name: str | None, use_rag: bool, adapter: str | None) -> None:
    """A line-by-line chat until an empty line, /quit or end of input."""
    click.echo("Лира: задайте вопрос (пустая строка или Ctrl+D — выход).")
    while True:
        try:
            question = input("› ").strip()
        except EOFError:
            break
        if question in ("", "/quit", "/exit"):
            break
        prepared = engine.prepare_answer(question, use_rag=use_rag, index_name=index_name,
                                         adapter=adapter)
        print_answer(prepared, as_json=False)
        click.echo()
