"""Exceptions raised by the index package.

Every exception here carries a one-line message meant for the user: it says
what went wrong and what to do.  The CLI and TUI turn them into one line.
"""


class IndexFailure(Exception):
    """Base of every error the index package raises on purpose."""


class EmbedderError(IndexFailure):
    """The embedding model cannot be loaded, converted or used."""


class StoreError(IndexFailure):
    """An index on disk is missing, locked, damaged or built differently."""


class QueryError(IndexFailure):
    """A search query that cannot be searched (an empty one)."""


class ReaderError(IndexFailure):
    """A document cannot be read (used for whole-run failures, not per file)."""


class EmptyIndex(StoreError):
    """The index exists but holds no chunks yet."""
