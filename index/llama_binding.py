"""What every use of llama.cpp (through llama-cpp-python) in Lira shares: the generator
(assistant.runtime.llama_engine) and the embedder (index.llama_embeddings) alike.

It lives under index/ because index/ cannot import assistant/, while assistant/ may
import index/.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from pathlib import Path

MIN_GGUF_BYTES = 32  # a GGUF header is longer: anything shorter is not one


def llama_available() -> bool:
    """Whether the llama.cpp binding (llama-cpp-python) is installed."""
    return importlib.util.find_spec("llama_cpp") is not None


@contextlib.contextmanager
def quiet_plain_load() -> Iterator[None]:
    """Load weights into plain CPU buffers, not llama.cpp's "extra" repacking buffer types,
    and keep llama.cpp's log off the terminal.

    On a CPU with AMX (this machine's Xeon has it), llama.cpp repacks quantised weights
    for AMX, and decoding the bundled gemma-3-270m, or embedding with a q8_0 e5, then
    dies with a segmentation fault (llama-cpp-python 0.3.36).  The binding has no
    argument for the model parameter ``use_extra_bufts``, so its default parameters are
    wrapped while Llama() loads.
    """
    from llama_cpp import llama as binding

    default = binding.llama_cpp.llama_model_default_params

    def plain():
        params = default()
        params.use_extra_bufts = False
        return params

    def silent(verbose: bool) -> None:
        # the binding prints llama.cpp's messages of level "none" (the SWA cache note)
        # whatever its verbosity: Lira's own lines say what loads
        logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL + 10)

    binding.llama_cpp.llama_model_default_params = plain
    set_verbose, binding.set_verbose = binding.set_verbose, silent
    logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL + 10)
    try:
        yield
    finally:
        binding.llama_cpp.llama_model_default_params = default
        binding.set_verbose = set_verbose


def looks_like_gguf(path: Path) -> bool:
    """Whether ``path`` is a file that starts as a GGUF does (llama.cpp crashes on some
    files that do not)."""
    if not path.is_file() or path.stat().st_size < MIN_GGUF_BYTES:
        return False
    with path.open("rb") as file:
        return file.read(4) == b"GGUF"


def cpu_threads() -> int:
    """The cores this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


def one_line(exc: BaseException) -> str:
    """A library's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__
