"""A longer fuzz run over the document readers than tests/test_fuzz_readers.py does.

Each format runs for ``--seconds`` in its own child process (tests/fuzz_runner.py), with a
wall-clock limit, and prints: cases run, documents read, skips by reason class, crashes (with
the make_case call that reproduces each), the slowest case, and the child's peak memory.

    .venv/bin/python bench/fuzz_readers.py --seconds 60 --seed 1 --jobs 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fuzz_inputs import FORMATS  # noqa: E402  (after the repository is on the path)

GRACE = 120  # seconds past --seconds before a child counts as hung (imports, the last slow case)


def run_one(name: str, seconds: float, seed: int, folder: Path) -> dict:
    """One format's summary from its own child, or a summary that names the case that hung."""
    progress = folder / f"{name}.progress"
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "tests.fuzz_runner", "--formats", name, "--seconds", str(seconds),
               "--seed", str(seed), "--progress", str(progress)]
    try:
        child = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=seconds + GRACE)
    except subprocess.TimeoutExpired:
        hung = progress.read_text() if progress.exists() else "(none started)"
        return {"format": name, "error": f"hung past {seconds + GRACE:.0f} s in {hung}"}
    if child.returncode != 0:
        last = progress.read_text() if progress.exists() else "(none started)"
        return {"format": name, "error": f"child exited {child.returncode} in {last}: {child.stderr[-500:]}"}
    return json.loads(child.stdout)[0]


def report(summary: dict) -> str:
    """A few lines on one format's run."""
    if "error" in summary:
        return f"{summary['format']}: ERROR {summary['error']}"
    skips = sum(summary["skips"].values())
    lines = [f"{summary['format']}: {summary['cases']} cases in {summary['seconds']} s, "
             f"{summary['documents']} documents, {skips} skips, {len(summary['crashes'])} crashes, "
             f"slowest {summary['slowest'][0]:.3f} s, peak {summary['peak_kb'] / 1024:.0f} MB "
             f"(+{(summary['peak_kb'] - summary['base_kb']) / 1024:.0f} MB over the start)"]
    lines += [f"    skip {count:6d}  {reason}" for reason, count in list(summary["skips"].items())[:8]]
    if len(summary["skips"]) > 8:
        lines.append(f"    skip ... {len(summary['skips']) - 8} more reason classes")
    lines.append(f"    slowest: {summary['slowest'][1]}")
    for case, error in summary["crashes"][:10]:
        lines.append(f"    CRASH {case}\n          {error.strip().splitlines()[-1]}")
    for case, controls in summary["controls"][:3]:
        lines.append(f"    control characters {', '.join(controls)} in {case}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="seconds per format")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="formats run side by side")
    parser.add_argument("--formats", nargs="*", default=sorted(FORMATS))
    parser.add_argument("--json", type=Path, help="write the summaries here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lira-fuzz-bench-") as tmp, \
            ThreadPoolExecutor(max_workers=args.jobs) as pool:
        summaries = list(pool.map(lambda name: run_one(name, args.seconds, args.seed, Path(tmp)),
                                  args.formats))
    for summary in summaries:
        print(report(summary), flush=True)
    total = sum(s.get("cases", 0) for s in summaries)
    crashes = sum(len(s.get("crashes", [])) for s in summaries) + sum("error" in s for s in summaries)
    print(f"all: {total} cases, {crashes} crashes or hangs, seed {args.seed}, {args.seconds:g} s per format")
    if args.json:
        args.json.write_text(json.dumps(summaries, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
