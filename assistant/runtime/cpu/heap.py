"""Giving the C heap's freed memory back to the operating system after a model load.

Loading a model frees hundreds of megabytes of temporaries (the adapter merge,
the output layer's int8 packing, transformers' own conversions).  glibc keeps
freed blocks below its mmap threshold for reuse, and that threshold rises with
every large block freed, so the process would carry that memory as resident
for its whole life; measured on the bundled model, 100-250 MB.
"""

from __future__ import annotations

import ctypes
import sys


def release_free_heap() -> bool:
    """Return free heap pages to the OS (glibc's malloc_trim); False where there is none."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):  # musl and other C libraries have no malloc_trim
        return False
