"""`lira serve` under load: latency and throughput over HTTP, beside the same questions
answered in-process.

Indexes --docs (default: the README) into a temporary LIRA_HOME, starts `lira serve` on a
free port, and for 1, 2, 4 and 8 concurrent clients sends --rounds streamed
`lira-documents` questions per client with the official `openai` client.  Per row: time to
first token (TTFT) and total time per request (p50 and p95), requests/s and new tokens/s.
The in-process row answers the same questions one after another through the Engine
(retrieval, prompt, generation, as `lira ask` does).  The HTTP layer's overhead per request
is the p50 total at 1 client minus the in-process p50.  Grounding checks are off on both
sides (LIRA_CHECK=false), so generation, retrieval and HTTP are what is timed.

    python bench/serve.py [--clients 1,2,4,8] [--rounds 3] [--max-tokens 32] [-k N]
                          [--model REF] [--embedder REF] [--docs PATH] [--json]

Defaults: the bundled models.  The server runs one request at a time (one compute thread),
so more clients add queueing to each request's latency, not throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = ["Что такое Лира?", "Как построить индекс?", "Какие модели есть?",
             "Как проверить ответ?", "Где хранятся данные?", "Как обучить адаптер?",
             "Что делает lira serve?", "Какие настройки есть?"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lira_env(args, home: Path) -> dict:
    # LIRA_MODEL_CACHE is kept, so prepared bundled models are not prepared again
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LIRA_") or k == "LIRA_MODEL_CACHE"}
    env.update(LIRA_HOME=str(home), LIRA_CHECK="false", LIRA_SERVE_QUEUE="16")
    if args.model:
        env["LIRA_CHAT_MODEL"] = args.model
    if args.embedder:
        env["LIRA_EMBEDDER"] = args.embedder
    return env


def lira(env: dict, *words: str, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "assistant.cli", *words], env=env, cwd=REPO,
                            **kwargs)


def start_server(env: dict) -> tuple[subprocess.Popen, str]:
    import httpx2

    port = free_port()
    server = lira(env, "serve", "--port", str(port), stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        if server.poll() is not None:
            raise SystemExit("lira serve exited; run it by hand to see why")
        try:
            if httpx2.get(f"{url}/health", timeout=1).status_code == 200:
                return server, url
        except httpx2.TransportError:
            time.sleep(0.25)
    raise SystemExit("lira serve did not start in 5 minutes")


def timed_http(client, question: str, max_tokens: int, k: int | None) -> tuple[float, float, int]:
    """(TTFT, total, new tokens) of one streamed question."""
    started = time.perf_counter()
    first, tokens = None, 0
    for chunk in client.chat.completions.create(
            model="lira-documents", messages=[{"role": "user", "content": question}],
            max_tokens=max_tokens, stream=True, extra_body={"k": k} if k else None):
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    total = time.perf_counter() - started
    return (first if first is not None else total), total, tokens


def http_row(url: str, clients: int, rounds: int, max_tokens: int, k: int | None) -> dict:
    from openai import OpenAI

    results: list[tuple[float, float, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client_loop(offset: int) -> None:
        client = OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=600)
        try:
            for i in range(rounds):
                result = timed_http(client, QUESTIONS[(offset + i) % len(QUESTIONS)],
                                    max_tokens, k)
                with lock:
                    results.append(result)
        except Exception as exc:  # reported once all clients are done
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"a request failed: {errors[0]}")
    return summary(f"http, {clients} client{'s' * (clients > 1)}", results,
                   time.perf_counter() - started)


def in_process_row(env: dict, count: int, max_tokens: int, k: int | None) -> dict:
    """The same questions through the Engine, one after another, in this process."""
    os.environ.update(env)
    from assistant.engine import Engine
    from assistant.runtime.offline import quiet_libraries
    from assistant.settings import load_settings

    quiet_libraries()
    engine = Engine(load_settings())
    engine.finish_answer(engine.prepare_answer(QUESTIONS[0], k, max_new_tokens=max_tokens))  # warm
    results = []
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        prepared = engine.prepare_answer(QUESTIONS[i % len(QUESTIONS)], k,
                                         max_new_tokens=max_tokens)
        first = None
        for _piece in prepared.stream:
            first = first if first is not None else time.perf_counter() - t0
        total = time.perf_counter() - t0
        results.append((first or total, total, prepared.stream.stats.new_tokens))
    return summary("in-process", results, time.perf_counter() - started)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(name: str, results: list[tuple[float, float, int]], wall: float) -> dict:
    ttft, total, tokens = zip(*results, strict=True)
    return {"row": name, "requests": len(results), "ttft_p50": statistics.median(ttft),
            "ttft_p95": percentile(ttft, 0.95), "total_p50": statistics.median(total),
            "total_p95": percentile(total, 0.95), "requests_per_s": len(results) / wall,
            "tokens_per_s": sum(tokens) / wall}


def print_table(rows: list[dict], overhead: float) -> None:
    print(f"{'':22} {'TTFT p50':>9} {'p95':>7} {'total p50':>10} {'p95':>7} {'req/s':>7} "
          f"{'tok/s':>7}")
    for r in rows:
        print(f"{r['row']:22} {r['ttft_p50']:9.3f} {r['ttft_p95']:7.3f} {r['total_p50']:10.3f} "
              f"{r['total_p95']:7.3f} {r['requests_per_s']:7.2f} {r['tokens_per_s']:7.1f}")
    print(f"HTTP overhead per request (p50 total, 1 client - in-process): {overhead * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,2,4,8")
    parser.add_argument("--rounds", type=int, default=3, help="questions per client")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("-k", type=int, help="passages per answer (default: the k setting)")
    parser.add_argument("--model", help="chat model reference (default: the bundled one)")
    parser.add_argument("--embedder", help="embedder reference (default: the bundled one)")
    parser.add_argument("--docs", type=Path, default=REPO / "README.md")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = lira_env(args, Path(home))
        if lira(env, "index", str(args.docs), stderr=subprocess.DEVNULL).wait() != 0:
            raise SystemExit("lira index failed; run it by hand to see why")
        server, url = start_server(env)
        try:
            http_row(url, 1, 1, args.max_tokens, args.k)  # a warm-up: one-off costs
            rows = [http_row(url, int(c), args.rounds, args.max_tokens, args.k)
                    for c in args.clients.split(",")]
        finally:
            server.terminate()
            server.wait(timeout=30)
        # the questions of the 1-client row, in its order
        rows.append(in_process_row(env, args.rounds, args.max_tokens, args.k))
    one_client = next((r for r in rows if r["row"] == "http, 1 client"), rows[0])
    overhead = one_client["total_p50"] - rows[-1]["total_p50"]
    if args.json:
        print(json.dumps({"rows": rows, "http_overhead_s": overhead}, indent=1))
    else:
        print_table(rows, overhead)


if __name__ == "__main__":
    main()
