"""Lira (Лира): a retrieval-augmented chat assistant for Russian text, in the terminal.

The top level holds what every part shares: ``engine`` (models, indexes and
answers behind the CLI and the TUI), ``settings`` (the one settings object),
``errors`` (the exception base and the errors shown as one line), ``rag``
(retrieved passages as numbered, citable sources) and ``followup`` (a question
read in its conversation, made standalone for retrieval).  Around them, one
subpackage per concern:

- ``runtime``: model references and loading, the compute thread, generation;
  ``runtime.cpu`` the CPU speed-ups;
- ``chat``: the chat backend behind the TUI, modes, history;
- ``poetry``: writing poems and analysing their form;
- ``grounding``: checking answers against their sources;
- ``evals``: measuring retrieval, answers, poems and checks;
- ``cli`` and ``tui``: the two front ends; nothing imports them.

The rules the tests keep (tests/test_layers.py): ``index`` and ``adapters``
never import ``assistant``; click only in ``cli``, textual only in ``tui``; no
module imports another's ``_private`` names; no import cycles.
"""
