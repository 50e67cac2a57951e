"""The root of the `lira` command line: global options, and errors as one line.

Only click is imported at start, so `lira --help` stays fast; everything heavy
is imported by the command that needs it.  Lira's own errors end as one line
on stderr and a non-zero exit code; --debug shows the traceback instead.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from assistant.errors import USER_ERRORS
from assistant.runtime.offline import quiet_libraries
from assistant.safe_text import printable

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def emit_json(data: Any) -> None:
    """Print ``data`` as one line of JSON."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=None))


def stage_printer(quiet: bool):
    """A progress callback that prints stage messages to stderr."""
    if quiet:
        return None
    return lambda message: click.echo(f"lira: {message}", err=True)


# Each command lives in its group's module, imported when the command runs (`lira --help`
# imports them all for their help lines): `lira chat` starts without building the options
# of every other command.
COMMANDS = {
    "adapters": "assistant.cli.training:adapters_group",
    "ask": "assistant.cli.answers:ask",
    "authors": "assistant.cli.searching:authors",
    "chat": "assistant.cli.answers:chat",
    "check": "assistant.cli.check:check",
    "eval": "assistant.cli.evaluation:eval_group",
    "index": "assistant.cli.indexing:index_cmd",
    "models": "assistant.cli.models:models",
    "poem": "assistant.cli.poem:poem",
    "search": "assistant.cli.searching:search",
    "serve": "assistant.cli.serve:serve",
    "train": "assistant.cli.training:train",
}


class CommandModules(click.Group):
    """The root group: its commands come from COMMANDS, each module loaded on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, name = COMMANDS[cmd_name].split(":")
        return getattr(importlib.import_module(module), name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        # click suggests near names from the commands it holds, and this group holds none
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-") \
                and not ctx.resilient_parsing:
            raise click.exceptions.NoSuchCommand(name, possibilities=list(COMMANDS), ctx=ctx)
        ctx.meta[COMMAND_WORDS] = list(args)  # the root's options go to the profile it uses
        return super().resolve_command(ctx, args)


COMMAND_WORDS = "lira.command_words"
# Commands (their first words) that generate with the poem profile; the rest use chat's.
POEM_COMMANDS = (("poem",), ("eval", "poetry"))


def profile_of(words: list[str]) -> str:
    """The model profile a command line generates with: "poem" or "chat"."""
    return "poem" if any(tuple(words[:len(c)]) == c for c in POEM_COMMANDS) else "chat"


@click.group(cls=CommandModules, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(path_type=Path), help="Lira's data folder (LIRA_HOME).")
@click.option("--embedder", help="Embedding model reference.")
@click.option("--model", help="Model of the command's profile (poem and eval poetry: the poem "
                              "model; the rest: the chat model): HF id, folder or bundled name.")
@click.option("--quantization", type=click.Choice(["none", "8bit", "4bit"]),
              help="Load that model in 8 or 4 bits (bitsandbytes).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where models run.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, embedder: str | None, model: str | None,
        quantization: str | None, device: str | None, debug: bool) -> None:
    """Lira (Лира): answers grounded in your Russian documents, in the terminal."""
    from assistant.settings import load_settings  # not needed by `lira --help`

    profile = profile_of(ctx.meta.get(COMMAND_WORDS, []))
    ctx.obj = load_settings({"home": home, "embedder": embedder, f"{profile}.model": model,
                             f"{profile}.quantization": quantization, "device": device,
                             "debug": debug or None})


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn errors into one line."""
    quiet_libraries()
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args  # or LIRA_DEBUG: read in _report, by the settings' boolean rule
    try:
        cli.main(args=args, prog_name="lira", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("lira: interrupted", err=True)
        from assistant.runtime import compute  # concurrent.futures: not at start-up

        if argv is None and compute.busy():  # the process itself (not a caller of main) ends
            _leave_now(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except USER_ERRORS as exc:
        return _report(exc, debug, f"lira: error: {exc}")
    except Exception as exc:  # a bug: still one line unless --debug
        return _report(exc, debug, f"lira: unexpected error: {type(exc).__name__}: {exc} "
                                   "(run with --debug for the traceback)")
    return 0


def _leave_now(code: int) -> None:
    """Exit without finalizing: what the index committed is on disk, and the compute
    thread's model work would make the interpreter's exit abort (compute.busy)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _report(exc: BaseException, debug: bool, line: str) -> int:
    if debug or _debug_from_environ():
        traceback.print_exception(exc)
    # the first line only, its control characters escaped: messages quote file names
    click.echo(printable(line.splitlines()[0]) if line else "lira: error", err=True)
    return EXIT_ERROR


def _debug_from_environ() -> bool:
    """Whether LIRA_DEBUG holds a true word of the settings (LIRA_DEBUG=junk is not one:
    load_settings reports it as a one-line error, and it must not bring a traceback)."""
    from assistant.settings import is_true  # only once an error is being reported

    return is_true(os.environ.get("LIRA_DEBUG", ""))
