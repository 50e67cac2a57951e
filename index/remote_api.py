"""The client of OpenAI-compatible servers and the one-line messages of its failures.

It lives in index/ because both remote embedders (here) and remote generators
(assistant.runtime.remote) use it, and index/ must never import assistant/.
The ``openai`` package is imported inside the functions: not at start-up.
"""

from __future__ import annotations

import json
import math
from typing import Any

REMOTE_PREFIX = "openai:"
CONNECT_TIMEOUT_S = 5.0
# A server that sends nothing for this long mid-stream is taken as stalled.  A large
# prompt on a slow server can take a while before its first token, hence not less.
READ_TIMEOUT_S = 120.0
# Without the server's tokenizer, tokens are estimated as one per CHARS_PER_TOKEN
# characters, rounded up: Russian runs about 3 to 4 characters a token in BPE
# vocabularies, so the estimate errs long and prompts and chunks stay inside windows.
CHARS_PER_TOKEN = 3
NO_KEY = "none"  # servers that ask for no key still need the header filled (ollama, vLLM)


def is_remote(reference: str) -> bool:
    """Whether a model reference names a model on an OpenAI-compatible server."""
    return reference.startswith(REMOTE_PREFIX)


def remote_model(reference: str) -> str:
    """The server's model name in ``openai:MODEL``."""
    return reference[len(REMOTE_PREFIX):]


def estimate_tokens(text: str) -> int:
    """The estimated token count of ``text`` (see CHARS_PER_TOKEN)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def make_client(base_url: str, api_key: str | None, max_retries: int = 2,
                read_timeout: float = READ_TIMEOUT_S) -> Any:
    """An ``openai.OpenAI`` client: retries connection errors, 429 and 5xx ``max_retries``
    times; a read timeout ends a stream that stalls."""
    from openai import OpenAI, Timeout

    timeout = Timeout(read_timeout, connect=CONNECT_TIMEOUT_S)
    return OpenAI(base_url=base_url, api_key=api_key or NO_KEY, max_retries=max_retries,
                  timeout=timeout)


def api_failure(exc: BaseException, url: str, model: str, setting: str) -> str | None:
    """One line for a failed call to the server at ``url``: what happened and what to
    check (``setting`` names where the URL comes from); None for an error of another kind."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return (f"the server at {url} sent nothing for too long (read timeout): "
                "check that it is running and not overloaded")
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach the server at {url}: check that it is running and {setting}"
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return (f"the server at {url} refused the API key ({exc.status_code}): "
                "check LIRA_API_KEY (or api_key in lira.toml)")
    if isinstance(exc, openai.NotFoundError):
        return (f"the server at {url} has no model '{model}' or no such endpoint (404): "
                f"check the model name against GET {url}/models and {setting}")
    if isinstance(exc, openai.BadRequestError):
        return (f"the server at {url} refused the request (400: {_said(exc)}): the prompt "
                "may not fit the model's context window; ask for fewer passages (-k) or tokens")
    if isinstance(exc, openai.APIStatusError):
        return f"the server at {url} answered {exc.status_code} ({_said(exc)}): check its log"
    if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError)):
        return not_json(url, setting)
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        return f"the server at {url} failed mid-answer ({_said(exc)}): check its log"
    return None


def not_json(url: str, setting: str) -> str:
    """The line for a server whose answer is not the JSON an OpenAI-compatible API sends."""
    return (f"the server at {url} did not answer with OpenAI-style JSON: check that it is an "
            f"OpenAI-compatible API and {setting} (it usually ends in /v1)")


def setting_hint(key: str, env: str) -> str:
    """How a message names the setting that holds a base URL."""
    return f"the base URL ({key} in lira.toml or {env})"


def _said(exc: Any) -> str:
    """The server's own message, on one short line."""
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    text = " ".join(str(message or getattr(exc, "message", "") or exc).split())
    return text[:160] + ("..." if len(text) > 160 else "")
