"""Start-up cost: `lira --help` and the chat app's first paint, in fresh processes.

Prints the median of --runs for each:
* `lira --help`: wall time of the whole process, and the modules it imported
  that are heavy (torch, transformers, numpy, textual);
* first paint of `lira chat`: seconds from process start to the app's first
  screen (headless, 100x30, the same pilot as bench/tui.py), on a tiny random
  model so that only start-up is timed.

    python bench/startup.py [--runs 5] [--repo DIR] [--baseline DIR]

--repo measures another checkout (e.g. an older commit) with this interpreter;
--baseline measures a second checkout too, its runs interleaved with --repo's so
that both see the same machine (a 2-core machine drifts by tens of ms).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "numpy", "textual", "faiss", "peft")

HELP = """
import time, sys, json, io, contextlib
sys.path.insert(0, {repo!r})
t0 = {spawned!r}
from assistant.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["--help"])
print(json.dumps({{"seconds": time.time() - t0,
                   "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""

PAINT = """
import time, sys, json
sys.path.insert(0, {repo!r})
started = {spawned!r}
from textual.app import App
from assistant import cli
from assistant.tui.app import LiraApp

marks = {{}}

def painted():
    marks["seconds"] = time.time() - started
    marks["heavy"] = sorted(m for m in {heavy!r} if m in sys.modules)

async def pilot(p):
    p.app.call_after_refresh(painted)
    while "seconds" not in marks:
        await p.pause(0.01)
    p.app.exit()

LiraApp.run = lambda self: App.run(self, headless=True, size=(100, 30), auto_pilot=pilot)
sys.stdin.isatty = lambda: True
cli.main({argv!r})
print(json.dumps(marks))
"""


def run_child(template: str, repo: Path, **fields) -> dict:
    env = dict(os.environ, PYTHONPATH=str(repo), HF_HUB_OFFLINE="1")
    code = template.format(repo=str(repo), spawned=time.time(), heavy=HEAVY, **fields)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=repo)
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(rows: list[dict]) -> dict:
    return {"seconds": round(statistics.median(r["seconds"] for r in rows), 3),
            "min": round(min(r["seconds"] for r in rows), 3), "heavy": rows[0]["heavy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--baseline", type=Path, help="a second checkout, run interleaved")
    args = parser.parse_args()
    repos = [args.repo] + ([args.baseline] if args.baseline else [])
    rows: dict[Path, dict[str, list]] = {r: {"help": [], "first_paint": []} for r in repos}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        # A chat model that does not exist: the app paints before it tries to load one.
        argv = ["--home", str(home), "--model", str(home / "no-model"), "chat", "--mode", "chat"]
        for _ in range(args.runs):
            for repo in repos:
                rows[repo]["help"].append(run_child(HELP, repo))
                rows[repo]["first_paint"].append(run_child(PAINT, repo, argv=argv))
    print(json.dumps([{"repo": str(repo), "runs": args.runs,
                       **{key: median_of(found) for key, found in rows[repo].items()}}
                      for repo in repos], indent=1))


if __name__ == "__main__":
    main()
