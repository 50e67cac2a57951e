"""A child process's own peak memory, for tests that parse hostile input in a subprocess.

The peak is read from VmHWM in /proc/self/status (Linux), after resetting it through
/proc/self/clear_refs: ru_maxrss would also count the parent's pages the child was forked
with, gigabytes late in a test run, and hide the growth under them.
"""

from __future__ import annotations

import re
from pathlib import Path

_STATUS = Path("/proc/self/status")


def status_kb(key: str) -> int:
    """A field of /proc/self/status in kB ("VmRSS", "VmHWM")."""
    return int(re.search(key + r":\s+(\d+) kB", _STATUS.read_text()).group(1))


def reset_peak() -> int:
    """Start the peak (VmHWM) again from the current RSS; return that RSS in kB."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_kb("VmRSS")


def peak_kb() -> int:
    """The highest RSS since the last reset_peak (or since the process started), in kB."""
    return status_kb("VmHWM")
