"""Exceptions raised by the adapters package (one-line, user-facing messages)."""


class AdapterError(Exception):
    """Base of every error the adapters package raises on purpose."""


class AdapterFolderError(AdapterError):
    """An adapter folder is missing, incomplete, unsafe or unreadable."""


class AdapterMismatchError(AdapterError):
    """An adapter was built for another base model."""
