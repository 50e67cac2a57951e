"""The chat behind the TUI: its backend, modes and conversation history.

backend (ChatBackend: replies in chat, documents and poem modes, indexing jobs,
authors; the TUI talks to models only through it), history (conversations in
SQLite with numbered migrations).

May import ``assistant.engine``, ``rag``, ``followup``, ``runtime``, ``poetry``, ``grounding``,
``source_groups`` (the retrieval badge's documents), ``index`` and ``adapters``; never the
front ends.
"""
