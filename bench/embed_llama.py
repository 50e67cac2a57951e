"""The bundled e5 embedder on llama.cpp (GGUF f16 / q8_0) against sentence-transformers.

Converts the prepared multilingual-e5-small folder to GGUF (index.e5_gguf, cached
under the model cache's ``gguf/``), then prints, for sentence-transformers and
llama.cpp in f16 and q8_0:

* agreement: cosine of each chunk's vector with sentence-transformers' (min, mean);
* speed: chunks/s of ``embed_passages`` on the same XQuAD and RusLit chunks (wall,
  median of the repeats, engines interleaved) and CPU-ms per chunk, per thread count;
* quality: bench/retrieval.py's run (XQuAD dev questions, their paragraphs among RusLit
  distractors) with each embedder: recall@5 / MRR of dense and hybrid search, and the
  whole indexing run's chunks/s;
* the load average (uptime) during each part, since the machine may be shared.

    python bench/embed_llama.py [--chunks 96] [--threads 1,2] [--distractor-mb 1] [--no-recall]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from retrieval import PROSE, XQUAD, run  # noqa: E402  (bench/ is not a package)

ENGINES = ("sentence-transformers", "llama.cpp f16", "llama.cpp q8_0")


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def prepare(home: Path | None) -> tuple[Path, dict[str, Path]]:
    """The bundled e5 folder and its GGUF files (converted once)."""
    from assistant.runtime.models import resolve
    from assistant.settings import load_settings
    from index.e5_gguf import write_embedder_gguf

    settings = load_settings({"home": home} if home else {})
    folder = resolve(settings.embedder, settings, print)
    ggufs = {}
    for quant in ("f16", "q8_0"):
        path = settings.models_dir / "gguf" / f"{folder.name}-{quant}.gguf"
        if not path.is_file():
            write_embedder_gguf(folder, path, quant, print)
        ggufs[quant] = path
    return folder, ggufs


def make(engine: str, folder: Path, ggufs: dict[str, Path], threads: int):
    """The embedder of ``engine`` using ``threads`` cores, under a name of its own."""
    if engine == "sentence-transformers":
        import torch

        from index.embeddings import Embedder

        torch.set_num_threads(threads)
        return Embedder(folder, folder.name)
    from index.llama_embeddings import LlamaEmbedder

    quant = engine.split()[-1]
    return LlamaEmbedder(ggufs[quant], f"{folder.name}-gguf-{quant}", threads=threads)


def sample_chunks(count: int, counter) -> list[str]:
    """``count`` chunks as indexing cuts them: XQuAD paragraphs and RusLit prose, alternating."""
    from index.chunking import chunk_text

    paragraphs = [p["context"] for a in json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
                  for p in a["paragraphs"]]
    prose = next(iter(sorted(PROSE.rglob("*.txt")))).read_text(encoding="utf-8")[:200_000]
    pieces = [c.text for c in chunk_text(prose, counter, 200, 40)]
    mixed = [t for pair in zip(paragraphs, pieces) for t in pair]
    return mixed[:count]


def speed(folder: Path, ggufs: dict[str, Path], chunks: list[str], threads: list[int],
          repeats: int) -> list[dict]:
    """chunks/s and CPU-ms per chunk for each engine and thread count, plus agreement."""
    import numpy as np

    rows = []
    for n in threads:
        loaded = {e: make(e, folder, ggufs, n) for e in ENGINES}
        reference = loaded[ENGINES[0]].embed_passages(chunks)
        walls: dict[str, list[float]] = {e: [] for e in ENGINES}
        cpus: dict[str, list[float]] = {e: [] for e in ENGINES}
        cosines = {}
        for embedder in loaded.values():
            embedder.embed_passages(chunks[:8])  # warm-up
        for _ in range(repeats):
            for engine, embedder in loaded.items():  # interleaved: load changes hit all alike
                wall, cpu = time.perf_counter(), time.process_time()
                vectors = embedder.embed_passages(chunks)
                walls[engine].append(time.perf_counter() - wall)
                cpus[engine].append(time.process_time() - cpu)
                cosines[engine] = (vectors * reference).sum(axis=1)
        for engine in ENGINES:
            rows.append({"engine": engine, "threads": n,
                         "chunks_per_s": round(len(chunks) / statistics.median(walls[engine]), 2),
                         "cpu_ms_per_chunk": round(1000 * statistics.median(cpus[engine])
                                                   / len(chunks), 1),
                         "cos_min": round(float(np.min(cosines[engine])), 5),
                         "cos_mean": round(float(np.mean(cosines[engine])), 5), "load": load()})
        del loaded
    return rows


def recall(folder: Path, ggufs: dict[str, Path], threads: int, distractor_mb: float,
           home: Path | None) -> list[dict]:
    """bench/retrieval.py's run with each engine's embedder."""
    from assistant.settings import Settings

    defaults = Settings()
    rows = []
    for engine in ENGINES:
        result = run(defaults.chunk_tokens, defaults.chunk_overlap, distractor_mb, home,
                     embedder=make(engine, folder, ggufs, threads))
        rows.append({"engine": engine, "threads": threads, "chunks": result["chunks"],
                     "index_s": result["index_s"],
                     "index_chunks_per_s": round(result["chunks"] / result["index_s"], 2),
                     **{f"{m}_{k}": round(result[m][k], 4) for m in ("dense", "hybrid")
                        for k in ("recall@5", "mrr@10")},
                     "load": load()})
    return rows


def timed(folder: Path, ggufs: dict[str, Path], args: argparse.Namespace) -> list[dict]:
    st = make(ENGINES[0], folder, ggufs, 1)
    chunks = sample_chunks(args.chunks, st.count_tokens)
    tokens = st.count_tokens(chunks)
    del st
    print(f"{len(chunks)} chunks, {statistics.mean(tokens):.0f} tokens on average")
    rows = speed(folder, ggufs, chunks, [int(t) for t in args.threads.split(",")], args.repeats)
    print(f"{'engine':<22} {'thr':>3} {'chunks/s':>8} {'cpu-ms/chunk':>12} {'cos min':>8} "
          f"{'cos mean':>8}  load")
    for r in rows:
        print(f"{r['engine']:<22} {r['threads']:>3} {r['chunks_per_s']:>8} "
              f"{r['cpu_ms_per_chunk']:>12} {r['cos_min']:>8} {r['cos_mean']:>8}  {r['load']}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=96, help="chunks timed per engine")
    parser.add_argument("--threads", default="1,2", help="thread counts to time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--distractor-mb", type=float, default=1.0,
                        help="MB of RusLit prose beside the XQuAD paragraphs in the recall run")
    parser.add_argument("--recall-threads", type=int, default=1)
    parser.add_argument("--no-recall", action="store_true", help="only agreement and speed")
    parser.add_argument("--no-speed", action="store_true", help="only the recall runs")
    parser.add_argument("--home", type=Path, help="LIRA_HOME whose model cache to use")
    args = parser.parse_args()
    if not XQUAD.is_file():
        sys.exit(f"{XQUAD} not found: this benchmark needs ../shared/data")
    from index.llama_embeddings import llama_embeddings_available

    if not llama_embeddings_available():
        sys.exit("llama-cpp-python is not installed: pip install llama-cpp-python")
    folder, ggufs = prepare(args.home)
    print(load(), "(before)")
    results: dict[str, list[dict]] = {}
    if not args.no_speed:
        results["speed"] = timed(folder, ggufs, args)
    if not args.no_recall:
        results["recall"] = recall(folder, ggufs, args.recall_threads, args.distractor_mb,
                                   args.home)
        print(f"XQuAD dev with {args.distractor_mb} MB RusLit distractors, "
              f"{args.recall_threads} thread(s):")
        print(f"{'engine':<22} {'chunks':>6} {'idx ch/s':>8} {'dense R@5':>9} {'MRR':>6} "
              f"{'hybrid R@5':>10} {'MRR':>6}  load")
        for r in results["recall"]:
            print(f"{r['engine']:<22} {r['chunks']:>6} {r['index_chunks_per_s']:>8} "
                  f"{r['dense_recall@5']:>9} {r['dense_mrr@10']:>6} {r['hybrid_recall@5']:>10} "
                  f"{r['hybrid_mrr@10']:>6}  {r['load']}")
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
