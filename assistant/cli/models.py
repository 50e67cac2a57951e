"""`lira models`: the model profiles and where each one resolves."""

from __future__ import annotations

import click

from assistant.cli.root import emit_json, stage_printer


@click.command()
@click.option("--prepare", is_flag=True, help="Convert the bundled models now (else on first use).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def models(settings, prepare: bool, as_json: bool) -> None:
    """Show the model profiles and where each one resolves."""
    from assistant.runtime.model_report import model_rows, prepare_all

    if prepare:
        prepare_all(settings, stage_printer(as_json))
    rows = model_rows(settings)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['role']:<14} {row['reference']:<26} {row['source']:<28} {row['path'] or '-'}")
