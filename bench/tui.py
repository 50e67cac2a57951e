"""Chat app benchmark: first paint, and keystroke latency while the model loads and generates.

Prints:
* first paint: seconds from process start (and from the first import) to the
  app's first screen for `lira chat`, in a fresh interpreter (headless), median
  of --runs; and when the model was ready in the same runs;
* keystroke latency: from a key event to the message box holding the
  character and the next screen refresh, idle, while the model loads and
  while an answer streams (about 20 keys a second);
* decode speed of an answer in the app, in the app while typing, and of the
  same generation without the app (best of --rounds each, interleaved).

Runs on the bundled models when they are prepared (LIRA_HOME/models, or
--models DIR), else on tiny random models built on the spot.

    python bench/tui.py [--runs 3] [--keys 40] [--rounds 2] [--models DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assistant.runtime.offline import quiet_libraries  # noqa: E402  (offline, no progress bars)

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUESTION = "Расскажи подробно, как строился Петербург и кто его строил."
TYPED = "какие мосты есть в городе и когда их построили "

FIRST_PAINT = """
import time
t0 = time.perf_counter()
import json, sys
sys.path.insert(0, {repo!r})
from textual.app import App
from assistant import cli
from assistant.tui.app import LiraApp

marks = {{}}
started = {spawned!r}  # time.time() in the parent just before it started this process

def painted():
    marks["paint_since_start"] = time.time() - started
    marks["paint_since_import"] = time.perf_counter() - t0
    marks["heavy_at_paint"] = sorted(m for m in ("torch", "transformers") if m in sys.modules)

async def pilot(p):
    app = p.app
    app.call_after_refresh(painted)
    while not app.models and not app.model_errors:
        await p.pause(0.01)
    marks["ready_since_start"] = time.time() - started
    app.exit()

# `lira chat` as typed in a terminal, but headless, with a pilot that watches the first paint.
LiraApp.run = lambda self: App.run(self, headless=True, size=(100, 30), auto_pilot=pilot)
sys.stdin.isatty = lambda: True
cli.main({argv!r})
print(json.dumps(marks))
"""


def model_flags(models: Path | None, home: Path) -> tuple[dict, str]:
    """Settings flags for the bundled models if prepared, else for tiny random ones."""
    from assistant.settings import load_settings

    cache = models or load_settings().models_dir
    if (cache / "gemma-3-270m" / "config.json").is_file():
        return {"home": str(home), "model_cache": str(cache)}, f"bundled ({cache})"
    from tests.conftest import build_tiny_model

    tiny = build_tiny_model("gpt2", home / "tiny-gpt2")
    return {"home": str(home), "chat.model": str(tiny)}, "tiny random gpt2"


def cli_args(flags: dict) -> list[str]:
    """The same settings as `lira` options and environment, for a child process."""
    args = ["--home", flags["home"]]
    if "chat.model" in flags:
        args += ["--model", flags["chat.model"]]
    return args


def first_paint(flags: dict, runs: int) -> dict:
    rows = []
    for _ in range(runs):
        argv = cli_args(flags) + ["chat", "--mode", "chat"]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        if "model_cache" in flags:
            env["LIRA_MODEL_CACHE"] = flags["model_cache"]
        code = FIRST_PAINT.format(repo=str(REPO), argv=argv, spawned=time.time())
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=env)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {key: statistics.median(r[key] for r in rows)
               for key in ("paint_since_start", "paint_since_import", "ready_since_start")}
    summary["heavy_at_paint"] = rows[0]["heavy_at_paint"]
    return summary


async def key_latency(app, pilot, char: str) -> float:
    """Seconds from sending a key to the box holding it and the screen refreshed."""
    from textual import events

    prompt = app.prompt
    before = prompt.text
    loop = asyncio.get_running_loop()
    painted = loop.create_future()
    start = time.perf_counter()
    app._driver.send_message(events.Key(char, char))
    while prompt.text == before:
        await asyncio.sleep(0.0005)
    app.call_after_refresh(lambda: painted.done() or painted.set_result(time.perf_counter()))
    return await painted - start


async def type_keys(app, pilot, count: int, keep_going) -> list[float]:
    """Type up to ``count`` characters about 20 a second while ``keep_going()`` holds."""
    latencies = []
    for n in range(count):
        if not keep_going():
            break
        latencies.append(await key_latency(app, pilot, TYPED[n % len(TYPED)]))
        await asyncio.sleep(0.05)
    app.prompt.clear()
    return latencies


async def interactive(flags: dict, keys: int, rounds: int) -> dict:
    from assistant.chat.backend import ChatBackend
    from assistant.settings import load_settings
    from assistant.tui.app import LiraApp

    settings = load_settings(flags)
    settings.max_new_tokens = 200
    app = LiraApp(settings, ChatBackend(settings), mode="chat")
    result: dict = {}
    async with app.run_test(size=(100, 30)) as pilot:
        # Typing goes on for the whole load, however long it takes.
        result["loading"] = await type_keys(app, pilot, 10_000, lambda: not app.models)
        while not app.models:
            await pilot.pause(0.05)
        result["idle"] = await type_keys(app, pilot, keys, lambda: True)

        async def answer(typing: bool) -> tuple[list[float], float]:
            from textual import events

            app.prompt.text = QUESTION
            # not pilot.press: it waits for the app to go idle, which a streaming answer's
            # refresh timer keeps it from until the answer is over
            app._driver.send_message(events.Key("enter", None))
            for _ in range(400):  # the job starts within 2 s: typing begins with it
                if app.job is not None:
                    break
                await asyncio.sleep(0.005)
            typed = await type_keys(app, pilot, keys, lambda: app.job is not None) if typing else []
            while app.job is not None:
                await pilot.pause(0.05)
            return typed, app.last_stats

        await answer(typing=False)  # warm-up: the first generation is slower
        # This machine may be shared: interleave the three kinds and keep each one's best.
        speeds: dict[str, list[float]] = {"quiet": [], "typing": [], "no_app": []}
        result["generating"] = []
        for _ in range(rounds):
            _, quiet = await answer(typing=False)
            typed, busy = await answer(typing=True)
            result["generating"] += typed
            speeds["quiet"].append(quiet.tokens_per_s if quiet else 0.0)
            speeds["typing"].append(busy.tokens_per_s if busy else 0.0)
            speeds["no_app"].append(await asyncio.to_thread(bare_decode, app.backend, settings))
        result["decode"] = {kind: max(values) for kind, values in speeds.items()}
        result["answer_tokens"] = quiet.new_tokens if quiet else 0
    return result


def bare_decode(backend, settings) -> float:
    """Decode speed of the same answer streamed with no app around it."""
    from assistant.chat.backend import build_chat_prompt
    from assistant.runtime.presets import PRESETS

    generator = backend.engine.generator("chat")
    preset = PRESETS["chat"].with_overrides(max_new_tokens=settings.max_new_tokens)
    stream = generator.stream(build_chat_prompt([], QUESTION), preset)
    for _ in stream:
        pass
    return stream.stats.decode_tokens_per_s


def describe(latencies: list[float]) -> str:
    if not latencies:
        return "no keys (phase ended first)"
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (f"median {statistics.median(ms):5.1f} ms, p95 {p95:5.1f} ms, "
            f"max {ms[-1]:5.1f} ms (n={len(ms)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="first-paint runs (median)")
    parser.add_argument("--keys", type=int, default=40, help="keys typed per answer")
    parser.add_argument("--rounds", type=int, default=2,
                        help="answers of each kind (quiet, typing, no app); best is kept")
    parser.add_argument("--models", type=Path, help="folder of prepared bundled models")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        flags, which = model_flags(args.models, Path(tmp))
        print(f"models: {which}; {os.cpu_count()} cores")
        paint = first_paint(flags, args.runs)
        print(f"first paint        {paint['paint_since_start']:.2f} s after process start "
              f"({paint['paint_since_import']:.2f} s after the first import); "
              f"heavy modules loaded at paint: {paint['heavy_at_paint'] or 'none'}")
        print(f"model ready        {paint['ready_since_start']:.2f} s after process start")
        keys = asyncio.run(interactive(flags, args.keys, args.rounds))
        print(f"keystroke, idle        {describe(keys['idle'])}")
        print(f"keystroke, loading     {describe(keys['loading'])}")
        print(f"keystroke, generating  {describe(keys['generating'])}")
        decode = keys["decode"]
        print(f"decode (best of {args.rounds})     in the app {decode['quiet']:.1f} tok/s, "
              f"in the app while typing {decode['typing']:.1f}, without the app "
              f"{decode['no_app']:.1f} (answers of {keys['answer_tokens']} tokens)")
        print(json.dumps({"models": which, "first_paint": paint,
                          "keys_ms": {k: [round(x * 1000, 2) for x in keys[k]]
                                      for k in ("idle", "loading", "generating")},
                          "decode_tok_s": keys["decode"]},
                         ensure_ascii=False))


if __name__ == "__main__":
    main()
