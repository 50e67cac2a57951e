"""Process-wide settings for the ML libraries: offline, quiet."""

from __future__ import annotations

import os


def quiet_libraries() -> None:
    """Keep the ML libraries offline and their progress bars and chatter off our screen."""
    import logging

    # Lira never downloads models at run time; make that explicit to the HF libraries.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
