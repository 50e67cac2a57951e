"""`lira serve`: the OpenAI-compatible HTTP API (assistant.server) on uvicorn.

Imported by the CLI at start, so only click and the standard library are
imported here; fastapi, uvicorn and the models load inside the command.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import click

from assistant.cli.root import stage_printer
from assistant.errors import SettingsError
from assistant.settings import Settings, check_index_name

LOCAL_NAMES = ("localhost",)


@click.command("serve")
@click.option("--host", help="Address to bind (the serve.host setting; default 127.0.0.1). "
                             "Any but a loopback address needs an API key.")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (serve.port; default 8000).")
@click.option("--name", help="The index lira-documents answers from (others: lira-documents:NAME).")
@click.option("--api-key", help="Require 'Authorization: Bearer KEY' (default: LIRA_API_KEY).")
@click.option("--queue", "waiting", type=click.IntRange(0, 1000), default=4, show_default=True,
              envvar="LIRA_SERVE_QUEUE",
              help="Requests that may wait behind the running one; more get 429.")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, name: str | None,
          api_key: str | None, waiting: int) -> None:
    """Serve Lira's modes over an OpenAI-compatible API: /v1/chat/completions, /v1/completions,
    /v1/embeddings, /v1/models and /health."""
    host = host or settings.serve.host
    port = port or settings.serve.port
    api_key = api_key or settings.api_key
    check_exposure(host, api_key)
    if name:
        settings = replace(settings, index_name=check_index_name(name))
    run_server(settings, host, port, api_key, waiting)


def is_loopback(host: str) -> bool:
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key: str | None) -> None:
    """Refuse to bind a non-loopback address without a key: anyone on the network could
    otherwise run the models and read the index through the API."""
    if not api_key and not is_loopback(host):
        raise SettingsError(f"binding {host} would expose Lira to the network without a key; "
                            "pass --api-key (or set LIRA_API_KEY), or bind 127.0.0.1")


def run_server(settings: Settings, host: str, port: int, api_key: str | None,
               waiting: int) -> None:
    """Load the models, then serve until Ctrl+C."""
    import uvicorn  # not at start-up

    from assistant.engine import Engine
    from assistant.server.app import create_app

    engine = Engine(settings, stage_printer(False))
    engine.generator("chat")  # loaded now: a bad model setting fails here, not per request
    engine.embedder()
    if settings.check:
        engine.nli()  # the grounding check's model, so the first answer does not wait for it
    app = create_app(engine, settings, waiting, api_key)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"lira: serving http://{shown}:{port}/v1 (models: GET /v1/models"
               f"{'; key required' if api_key else ''}); Ctrl+C stops", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
