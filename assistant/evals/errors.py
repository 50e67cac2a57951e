"""The user-facing error of `lira eval rag` and `lira eval poetry`."""

from assistant.errors import LiraError


class EvalError(LiraError):
    """An evaluation cannot run: a missing or malformed data file, nothing to evaluate,
    an unknown author, an output folder that cannot be written."""
