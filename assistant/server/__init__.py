"""`lira serve`: an OpenAI-compatible HTTP API over Lira's engine (FastAPI on uvicorn).

app (the app factory: routes, auth, body limit, queue, error objects), shapes
(the permissive request models and the response records), modes (model names
to Lira's modes), replies (a request turned into a started reply), streaming
(server-sent events of a reply), admission (the bounded queue in front of the
one compute thread), api_errors (OpenAI-style error objects).

May import ``assistant.engine``, ``chat``, ``runtime``, ``poetry``, ``grounding``,
``rag``, ``followup``, ``settings``, ``errors``, ``safe_text``, ``source_groups`` (sources
one per document), ``index`` and ``adapters``;
only the CLI's serve command imports it.  fastapi, starlette and uvicorn are
imported here and in that command only.
"""
