"""Word stress for Russian text: silero-stress's accentor, loaded once per process.

The accentor marks each stressed vowel with a '+' before it ("мор+оз"), and it
also restores 'ё' ("дал+ёкой").  A word the caller already marked with '+' is
left as it is, which is how stress typed into a poem (U+0301 after the vowel)
overrides the model.
"""

from __future__ import annotations

import re
import threading
import unicodedata

from assistant.errors import LiraError
from assistant.runtime import compute

MARK = "+"
ACUTE = "\u0301"  # a combining acute accent after a vowel: stress typed by hand

_accentor = None
_lock = threading.Lock()


class StressUnavailable(LiraError):
    """The silero-stress package is not installed or its model cannot be loaded."""


def available() -> bool:
    """Whether the stress model can be used (loads it on first call)."""
    try:
        _load()
    except StressUnavailable:
        return False
    return True


def mark_stress(text: str) -> str:
    """``text`` with '+' before each stressed vowel; raises StressUnavailable.

    Hand-typed acute accents become marks; other combining accents (RIFMA's
    secondary stress, U+0300 and U+0302) are dropped.  Line breaks are kept, so
    a whole poem goes through the model in one call.
    """
    accentor = _load()
    return compute.run(_one_thread, accentor, prepare(text))


def _one_thread(accentor, text: str) -> str:
    import torch

    # The model is small: on one thread it is fastest, and far faster when
    # another process keeps the cores busy (OpenMP threads then wait on each other).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return accentor(text)
    finally:
        torch.set_num_threads(threads)


def homograph_readings(word: str) -> tuple[str, ...]:
    """Every reading of a homograph, marked ("з+амки", "замк+и"); () for other words.

    The readings come from the stress model's homograph dictionary, so they are
    known only once the model is loaded; this never loads it.
    """
    solver = getattr(_accentor, "homosolver", None)
    readings = getattr(solver, "homodict", {}).get(word.lower().replace("ё", "е"))
    return tuple(readings) if readings else ()


def prepare(text: str) -> str:
    """``text`` with hand-typed acute accents as '+' marks and other accents removed."""
    decomposed = unicodedata.normalize("NFD", text)
    # NFD splits ё and й into a base letter and a combining mark; keep those letters.
    decomposed = decomposed.replace("е\u0308", "ё").replace("Е\u0308", "Ё")
    decomposed = decomposed.replace("и\u0306", "й").replace("И\u0306", "Й")
    marked = re.sub(f"(.){ACUTE}", rf"{MARK}\1", decomposed)
    return "".join(c for c in marked if not unicodedata.combining(c))


def _load():
    global _accentor
    with _lock:
        if _accentor is None:
            _accentor = compute.run(_load_accentor)
    return _accentor


def _load_accentor():
    try:
        import torch
    except ImportError as exc:
        raise StressUnavailable(f"torch is not installed ({exc})") from exc
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    try:
        # silero_stress sets torch to one thread and turns autograd off when imported;
        # generation and training on the same (compute) thread must keep their settings.
        from silero_stress import load_accentor

        accentor = load_accentor("ru")
    except Exception as exc:  # missing package or an unreadable model file
        raise StressUnavailable(f"silero-stress cannot be loaded ({exc}); "
                                "install it with `pip install silero-stress`") from exc
    finally:
        torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)
    if accentor is None:
        raise StressUnavailable("silero-stress has no Russian model")
    return accentor
