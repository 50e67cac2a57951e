"""The `lira` command line: one module per command group, around the root group.

root (global options, `main`, errors as one line, the table of commands),
models, indexing, searching (search, authors), answers (ask, chat), poem,
training (train, adapters), check, evaluation (eval).  The root loads a
command's module when the command runs.

May import anything in assistant/, index/ and adapters/; nothing imports it
(``lira = "assistant.cli:main"``).  Only click and the standard library are
imported at start, so `lira --help` stays fast: a command imports what it
needs when it runs.  click is imported in this package only.
"""

from assistant.cli.root import cli, main

__all__ = ["cli", "main"]
