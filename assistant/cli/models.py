"""`lira models`: the model profiles and where each one resolves; `pull`, `cached` and `rm`
manage models in the Hugging Face cache (`pull` is the only command that goes online)."""

from __future__ import annotations

import click

from assistant.cli.root import emit_json, stage_printer


@click.group(invoke_without_command=True)
@click.option("--prepare", is_flag=True, help="Convert the bundled models and export their adapters for llama.cpp now "
              "(else on first use).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models(ctx: click.Context, prepare: bool, as_json: bool) -> None:
    """Show the model profiles, where each one resolves and what the Hugging Face cache holds;
    `pull`, `cached` and `rm` manage models in that cache."""
    if ctx.invoked_subcommand is not None:
        return
    from assistant.runtime.model_report import model_rows, prepare_all

    settings = ctx.obj
    if prepare:
        from assistant.engine import Engine

        prepare_all(settings, stage_printer(as_json))
        Engine(settings, stage_printer(as_json)).prepare_llama()
    rows = model_rows(settings)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['role']:<14} {row['reference']:<26} {row['source']:<28} {row['path'] or '-'}")
    click.echo("\nin the Hugging Face cache:")
    _echo_cached()


def _echo_cached() -> None:
    """A line per model in the Hugging Face cache, with its size (or how to get one)."""
    from assistant.runtime.hub import cached_models, human_size

    found = cached_models()
    if not found:
        click.echo("no models in the Hugging Face cache; download one with `lira models pull ID`")
    for m in found:
        click.echo(f"{m.repo_id:<40} {human_size(m.size):>10} {m.files:>5} files  "
                   f"{','.join(m.refs) or '-'}")


@models.command()
@click.argument("repo_id", metavar="ID")
@click.option("--revision", help="Branch, tag or commit (default: main).")
@click.option("--quant", default="q4_k_m", show_default=True,
              help="Of a repository of GGUF files, the one whose name holds this.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def pull(repo_id: str, revision: str | None, quant: str, as_json: bool) -> None:
    """Download a model from the Hugging Face Hub into its cache (resumes if interrupted)."""
    from assistant.runtime.hub import human_size
    from assistant.runtime.hub import pull as pull_model

    done = pull_model(repo_id, revision, quant)
    if as_json:
        emit_json({"id": done.repo_id, "revision": done.revision, "commit": done.commit,
                   "path": str(done.path), "files": list(done.files),
                   "downloaded": done.downloaded})
        return
    click.echo(f"{done.repo_id} ({done.revision}, {done.commit[:12]}): {len(done.files)} files, "
               f"{human_size(done.downloaded)} downloaded, in {done.path}")
    click.echo(f"use it: lira --model {done.repo_id} chat")


@models.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cached(as_json: bool) -> None:
    """List the models in the Hugging Face cache, with their sizes."""
    from assistant.runtime.hub import cached_models

    if not as_json:
        _echo_cached()
        return
    emit_json([{"id": m.repo_id, "size": m.size, "files": m.files, "refs": list(m.refs),
                "path": str(m.path)} for m in cached_models()])


@models.command()
@click.argument("repo_id", metavar="ID")
def rm(repo_id: str) -> None:
    """Delete a model from the Hugging Face cache, every revision of it."""
    from assistant.runtime.hub import human_size, remove

    click.echo(f"removed {repo_id}: {human_size(remove(repo_id))} freed")
