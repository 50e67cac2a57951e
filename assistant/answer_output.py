"""Printing answers in the shell: streamed text, then numbered sources."""

from __future__ import annotations

import json
import sys

import click

from assistant.engine import Engine, PreparedAnswer
from assistant.rag import cited_numbers


def print_answer(prepared: PreparedAnswer, as_json: bool) -> None:
    """Stream the answer to stdout (or collect it for JSON) and list its sources."""
    if prepared.note and not as_json:
        click.echo(f"lira: {prepared.note}", err=True)
    if as_json:
        text = "".join(prepared.stream).strip()
        click.echo(json.dumps(answer_json(prepared, text), ensure_ascii=False))
        return
    pieces = []
    for piece in prepared.stream:
        pieces.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()
    click.echo()
    for line in source_lines(prepared, "".join(pieces)):
        click.echo(line)


def answer_json(prepared: PreparedAnswer, text: str) -> dict:
    """The `lira ask --json` object."""
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
                  "total_s": round(stats.total_s, 3), "stopped_by": stats.stopped_by},
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
