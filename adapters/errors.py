"""Exceptions raised by the adapters package (one-line, user-facing messages)."""


class AdapterError(Exception):
    """Base of every error the adapters package raises on purpose."""


class AdapterFolderError(AdapterError):
    """An adapter folder is missing, incomplete, unsafe or unreadable."""


class AdapterMismatchError(AdapterError):
    """An adapter was built for another base model."""


class BaseModelError(AdapterError):
    """A base model folder, its tokenizer, or the device or quantisation asked for cannot be used."""


class TrainingDataError(AdapterError):
    """Training data is missing, empty or not in a format Lira reads."""


class TrainingError(AdapterError):
    """A training run cannot start or go on (bad options, nothing to resume...)."""


class MergeError(AdapterError):
    """An adapter cannot be merged into its base, or the merge changed the outputs."""


class TrainingInterrupted(TrainingError):
    """Training was stopped on request after saving a checkpoint."""


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when it has none), at most 200
    characters: a library's failure inside a one-line error."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
