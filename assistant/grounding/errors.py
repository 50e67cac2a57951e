"""The grounding checker's user-facing error."""

from assistant.errors import LiraError


class GroundingError(LiraError):
    """A grounding check cannot run: no sources, an unusable NLI model, bad claims file."""
