"""Lira's own exceptions and the set of errors shown to users as one line."""

from adapters.errors import AdapterError
from index.errors import IndexFailure


class LiraError(Exception):
    """Base of every error the assistant package raises on purpose."""


class SettingsError(LiraError):
    """lira.toml, an environment variable or a flag has a bad value."""


class ModelNotFound(LiraError):
    """A model reference resolves to nothing that can be loaded offline."""


class ModelLoadError(LiraError):
    """A model folder exists but cannot be loaded."""


class GenerationError(LiraError):
    """Generation failed or was given inputs it cannot handle."""


# Errors the CLI and the TUI report as a single line instead of a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (LiraError, IndexFailure, AdapterError)
