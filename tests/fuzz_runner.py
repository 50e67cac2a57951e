"""Runs fuzz cases (tests/fuzz_inputs.py) through ``parse_documents`` and sums up what happened.

Meant to run in a child process (``python -m tests.fuzz_runner``), so that the caller can bound
its wall-clock time and read its own peak memory. Before each case the child writes the case
to ``--progress``, so a caller that kills a hung child can still name the case that hung.

A case passes when the reader returns documents whose text is a ``str`` without NUL, or raises
``Skip`` with a non-empty one-line reason; anything else is a crash, kept with its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from tests.child_memory import peak_kb, reset_peak
from tests.fuzz_inputs import FORMATS, Case, make_case

# Text of these formats is read by readers.py's own decoding, where NUL is being cleaned up
# (index.documents.clean_text, not landed yet): until then a NUL there is not a failure.
NUL_PENDING = {"txt", "md", "ruslit"}
# Control characters other than tab, line feed and carriage return (C0, DEL, C1): reported, not failed.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def nul_checked(format_name: str) -> bool:
    """Whether a NUL in this format's text fails the case (see NUL_PENDING)."""
    import index.documents

    return format_name not in NUL_PENDING or hasattr(index.documents, "clean_text")


def reason_class(reason: str) -> str:
    """A Skip reason with its particulars (numbers, names, messages) taken out, for counting."""
    reason = re.sub(r"\((\w+): .*\)", r"(\1)", reason)
    reason = re.sub(r"'[^']*'", "'…'", reason)
    return re.sub(r"\b\d+(\.\d+)?\b", "N", reason)


def ruslit_folder(root: Path) -> None:
    """The folder a RusLit case sits in: two sibling poems by the same author and an info.csv."""
    folder = root / "poems" / "Пушкин"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Анчар.txt").write_text("Александр Пушкин\n\nАНЧАР\n\nВ пустыне чахлой и скупой\n")
    (folder / "Пророк.txt").write_text("Александр Пушкин\n\nПРОРОК\n\nДуховной жаждой томим\n")
    (root / "poems" / "info.csv").write_text("name,year\nЗимнее утро,1829\nАнчар,1828\n")


def run_case(case: Case, root: Path) -> dict:
    """What the reader did with one case: {"outcome": "docs"|"skip"|"crash", ...}."""
    from index.documents import Document, Skip
    from index.readers import parse_documents

    fmt = FORMATS[case.format]
    try:
        docs = parse_documents(root / fmt.filename, case.data, layout=fmt.layout)
    except Skip as skip:
        reason = skip.args[0] if skip.args else ""
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason:
            return {"outcome": "crash", "error": f"Skip with a bad reason: {reason!r}"}
        return {"outcome": "skip", "reason": reason}
    except Exception:  # the point of the run: anything but Skip is a crash
        return {"outcome": "crash", "error": traceback.format_exc(limit=-4)}
    problems, controls = [], set()
    if not isinstance(docs, list) or not docs:
        problems.append(f"returned {type(docs).__name__} {docs!r:.80}")
    for doc in docs if isinstance(docs, list) else []:
        if not isinstance(doc, Document) or not isinstance(doc.text, str):
            problems.append(f"not a Document with str text: {doc!r:.80}")
            continue
        if "\x00" in doc.text and nul_checked(case.format):
            problems.append("NUL in the text")
        for field in (doc.text, doc.title, doc.author):
            controls.update(f"U+{ord(c):04X}" for c in _CONTROLS.findall(field if isinstance(field, str) else ""))
    if problems:
        return {"outcome": "crash", "error": "; ".join(problems)}
    return {"outcome": "docs", "documents": len(docs), "controls": sorted(controls)}


def run_format(format_name: str, seed: int, root: Path, cases: int | None = None,
               seconds: float | None = None, progress: Path | None = None) -> dict:
    """Run ``cases`` cases of a format, or as many as fit in ``seconds``; a summary as a dict."""
    base = reset_peak()
    started = time.perf_counter()
    summary = {"format": format_name, "seed": seed, "cases": 0, "documents": 0, "skips": Counter(),
               "crashes": [], "controls": [], "slowest": [0.0, ""]}
    index = 0
    while (cases is None or index < cases) and (seconds is None or time.perf_counter() - started < seconds):
        case = make_case(format_name, seed, index)
        if progress:
            progress.write_text(case.reproduce())
        began = time.perf_counter()
        result = run_case(case, root)
        took = time.perf_counter() - began
        if took > summary["slowest"][0] and index:  # case 0 also pays the libraries' first use
            summary["slowest"] = [round(took, 3), case.reproduce()]
        summary["cases"] += 1
        if result["outcome"] == "skip":
            summary["skips"][reason_class(result["reason"])] += 1
        elif result["outcome"] == "docs":
            summary["documents"] += result["documents"]
            if result["controls"] and len(summary["controls"]) < 20:
                summary["controls"].append([case.reproduce(), result["controls"]])
        else:
            summary["crashes"].append([case.reproduce(), result["error"]])
        index += 1
    summary["seconds"] = round(time.perf_counter() - started, 2)
    summary["base_kb"], summary["peak_kb"] = base, peak_kb()
    summary["skips"] = dict(summary["skips"].most_common())
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, help="cases per format")
    parser.add_argument("--seconds", type=float, help="seconds per format (instead of --cases)")
    parser.add_argument("--formats", nargs="*", default=sorted(FORMATS))
    parser.add_argument("--progress", type=Path, help="file that names the case being run")
    parser.add_argument("--memory-cap-gb", type=float, default=4.0,
                        help="address-space cap, so a runaway allocation fails here, not the machine")
    args = parser.parse_args(argv)
    cap = int(args.memory_cap_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    for module in ("bs4", "docx", "ebooklib.epub", "lxml.etree", "pypdf", "charset_normalizer"):
        importlib.import_module(module)  # loaded before the baseline, so the peak is the readers' own

    results = []
    with tempfile.TemporaryDirectory(prefix="lira-fuzz-") as tmp:
        root = Path(tmp)
        ruslit_folder(root)
        for name in args.formats:
            results.append(run_format(name, args.seed, root, args.cases, args.seconds, args.progress))
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
