"""`lira ask` and `lira chat`: answers from the shell, and the chat (the app or --plain)."""

from __future__ import annotations

import os
import sys

import click

from assistant.chat.modes import Mode
from assistant.cli.root import stage_printer


def decoding_options(func):
    """--temperature, --top-k, --top-p, --repetition-penalty, --beams, --sample/--greedy:
    the [decoding] settings for this command (assistant.settings.DecodingSettings)."""
    options = [
        click.option("--temperature", type=float, help="Sampling temperature (turns sampling on)."),
        click.option("--top-k", type=int, help="Sample from the k likeliest tokens (0: all)."),
        click.option("--top-p", type=float, help="Sample from the smallest set of this much probability."),
        click.option("--repetition-penalty", type=float, help="Penalty for repeated tokens (1: none)."),
        click.option("--beams", "num_beams", type=int,
                     help="Beam search with this many beams (the answer comes at the end)."),
        click.option("--sample/--greedy", "do_sample", default=None,
                     help="Sample, or take the likeliest token (default: the preset's, greedy)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def with_decoding(settings, flags: dict):
    """``settings`` with the decoding flags of the command applied, checked as settings."""
    from assistant.settings import with_flags

    return with_flags(settings, {f"decoding.{key}": value for key, value in flags.items()})


@click.command()
@click.argument("question")
@click.option("--name", help="Index name.")
@click.option("-k", type=click.IntRange(1, 20), help="Passages to retrieve.")
@click.option("--no-rag", is_flag=True, help="Answer without retrieval.")
@click.option("--adapter", help="Adapter folder, or 'none' for the bare base model.")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), help="Answer length limit.")
@click.option("--no-check", is_flag=True, help="Skip checking the answer against its sources.")
@click.option("--on-unsupported", type=click.Choice(["mark", "drop", "retry"]),
              help="What a sentence the check does not support gets: mark it, drop it, or "
                   "retry the answer once with the evidence quoted (default: the setting).")
@click.option("--session", help="A named conversation in the chat history: QUESTION is read "
                                "as a follow-up of its earlier questions, and added to it.")
@decoding_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def ask(settings, question: str, name: str | None, k: int | None, no_rag: bool,
        adapter: str | None, max_new_tokens: int | None, no_check: bool,
        on_unsupported: str | None, session: str | None, as_json: bool, **decoding) -> None:
    """Answer QUESTION from the index, citing sources as [n], checked against them."""
    from assistant.cli.answer_output import print_answer
    from assistant.engine import Engine
    from assistant.settings import with_flags

    settings = with_flags(with_decoding(settings, decoding), {"on_unsupported": on_unsupported})
    engine = Engine(settings, stage_printer(as_json))
    history, conversation, turns = open_session(settings, session)
    prepared = engine.prepare_answer(question, k=k, use_rag=not no_rag, index_name=name,
                                     adapter=adapter, max_new_tokens=max_new_tokens,
                                     turns=turns)
    answer = print_answer(engine, prepared, as_json, check=settings.check and not no_check)
    if history is not None:
        from assistant.chat.sessions import record_answer

        record_answer(history, conversation, answer, name or settings.index_name)


def open_session(settings, name: str | None):
    """(history, conversation id, its turns) of session ``name``; Nones without one."""
    if name is None:
        return None, None, ()
    if not name.strip() or len(name) > 200:
        raise click.UsageError("--session needs a name of 1 to 200 characters")
    from assistant.chat.history import HISTORY_FILE, History
    from assistant.chat.sessions import session_turns

    history = History.open(settings.home / HISTORY_FILE)
    conversation = history.session(name.strip(), Mode.DOCUMENTS.value)
    return history, conversation, session_turns(history, conversation)


@click.command()
@click.option("--name", help="Index name (documents and poem modes).")
@click.option("--mode", type=click.Choice([m.value for m in Mode]),
              help="Start in this mode (default: documents if the index exists, else chat).")
@click.option("--no-rag", is_flag=True, help="Chat without retrieval (same as --mode chat).")
@click.option("--author", help="Poem mode: write in this author's style.")
@click.option("--adapter", help="Adapter folder, or 'none'.")
@click.option("--resume", is_flag=True, help="Continue the last conversation.")
@click.option("--theme", type=click.Choice(["dark", "light"]), default="dark",
              show_default=True, help="Colour theme (Ctrl+T switches).")
@click.option("--plain", is_flag=True,
              help="A line-by-line loop instead of the app (also used when stdin is not a "
                   "terminal); an empty line or Ctrl+D quits.")
@decoding_options
@click.pass_obj
def chat(settings, name: str | None, mode: str | None, no_rag: bool, author: str | None,
         adapter: str | None, resume: bool, theme: str, plain: bool, **decoding) -> None:
    """Chat in the terminal: the Textual app (F1 inside for keys), or --plain."""
    settings = with_decoding(settings, decoding)
    if plain or not sys.stdin.isatty():
        from assistant.cli.answer_output import chat_loop
        from assistant.engine import Engine

        chat_loop(Engine(settings, stage_printer(False)), name, not no_rag, adapter)
        return
    from assistant.chat.backend import ChatBackend
    from assistant.tui.app import LiraApp

    if mode is None:
        # index.store.CATALOG, named here because importing index.store pulls in numpy
        # and the app's first paint should not wait for it.
        has_index = (settings.index_dir(name) / "catalog.sqlite").is_file()
        mode = (Mode.POEM if author else Mode.CHAT if no_rag or not has_index
                else Mode.DOCUMENTS)
    app = LiraApp(settings, ChatBackend(settings), mode=mode, index_name=name, author=author,
                  adapter=adapter, resume=resume, theme=theme)
    app.run()
    if app.unfinished_work():
        # A model load or an indexing run cannot be interrupted, and its thread would keep
        # the process alive; everything it wrote is committed transactionally already.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(app.return_code or 0)
