"""Indexing benchmark on RusLit (373 files, 68 MB), plus XQuAD retrieval on that index.

(Named indexing.py, not index.py: a script named index.py would shadow the `index`
package for every script run from bench/.)

Prints: ingest MB/min and chunks/s; the ratio of that throughput to bare
``SentenceTransformer.encode`` on a sample of the same chunks, measured in the
same run; the no-change re-index time; query latency p50/p95 over 200 hybrid
queries (query embedding included); peak RSS; index size on disk; recall@k and
MRR of dense, lexical and hybrid search for the XQuAD questions (their 180
paragraphs indexed beside RusLit); FAISS exact vs IVF recall@10 on these vectors.

    python bench/indexing.py [--limit-mb 68] [--sample 1500] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from retrieval import MODES, evaluate, write_xquad  # noqa: E402  (bench/ is not a package)

REPO = Path(__file__).resolve().parent.parent
RUSLIT = REPO.parent / "shared" / "data" / "ruslit"


def copy_corpus(target: Path, limit_mb: float) -> tuple[float, list[tuple[str, str]]]:
    """RusLit (up to limit_mb) and the XQuAD paragraphs as files; (MB, questions)."""
    budget, total = limit_mb * 2**20, 0
    for path in sorted(RUSLIT.rglob("*.txt")):
        if total + path.stat().st_size > budget:
            break
        dest = target / "ruslit" / path.relative_to(RUSLIT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        total += path.stat().st_size
    questions = write_xquad(target / "xquad")
    total += sum(p.stat().st_size for p in (target / "xquad").iterdir())
    return total / 2**20, questions


def bare_encode_rate(embedder, texts: list[str]) -> float:
    """Chunks/s of SentenceTransformer.encode alone on ``texts``."""
    model = embedder.inner.model
    started = time.perf_counter()
    model.encode([embedder.inner.passage_prefix + t for t in texts], batch_size=32,
                 normalize_embeddings=True, convert_to_numpy=True)
    return len(texts) / (time.perf_counter() - started)


def latency(searcher, queries: list[str]) -> tuple[float, float]:
    times = []
    for query in queries:
        started = time.perf_counter()
        searcher.search(query, k=5)
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.95)] * 1000


def ivf_recall(store, queries) -> dict:
    """recall@10 of an IVF index against exact search on the same vectors."""
    import numpy as np

    from index.vectors import FaissIndex

    exact = store._rebuild_vectors()
    ivf = FaissIndex._build_ivf(store.dim, list(store._stored_vectors()), store.chunk_count())
    agree, t_exact, t_ivf = [], 0.0, 0.0
    for q in queries:
        t = time.perf_counter()
        a = {i for i, _ in exact.search(q[None, :], 10)[0]}
        t_exact += time.perf_counter() - t
        t = time.perf_counter()
        b = {i for i, _ in ivf.search(q[None, :], 10)[0]}
        t_ivf += time.perf_counter() - t
        agree.append(len(a & b) / 10)
    return {"kind_in_use": exact.kind, "ivf_recall@10_vs_exact": float(np.mean(agree)),
            "exact_ms": t_exact / len(queries) * 1000, "ivf_ms": t_ivf / len(queries) * 1000,
            "nprobe": ivf.index.nprobe}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-mb", type=float, default=100.0, help="cap on RusLit MB")
    parser.add_argument("--sample", type=int, default=1500, help="chunks for the bare encode rate")
    parser.add_argument("--keep", type=Path, help="keep the built index in this LIRA_HOME")
    args = parser.parse_args()

    from assistant.engine import Engine, ingest_options
    from assistant.settings import load_settings
    from index.ingest import index_path

    work = Path(tempfile.mkdtemp(prefix="lira-bench-"))
    try:
        mb, questions = copy_corpus(work / "corpus", args.limit_mb)
        settings = load_settings()
        settings.model_cache = settings.models_dir
        settings.home = args.keep or work / "home"
        engine = Engine(settings)
        embedder = engine.embedder()
        store = engine.open_index("ruslit", create=True)
        options = ingest_options(settings, layout="ruslit")
        started = time.perf_counter()
        report = index_path(work / "corpus", store, embedder, options)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        again = index_path(work / "corpus", store, embedder, options)
        reindex_s = time.perf_counter() - started
        texts = [r[0] for r in store.conn.execute("SELECT text FROM chunks")]
        sample = random.Random(0).sample(texts, min(args.sample, len(texts)))
        bare = bare_encode_rate(embedder, sample)
        searcher = engine.searcher("ruslit")
        rng = random.Random(1)
        p50, p95 = latency(searcher, [q for q, _ in rng.sample(questions, 200)])
        quality = {mode: evaluate(searcher, questions, mode) for mode in MODES}
        qvecs = embedder.embed_queries([q for q, _ in questions[:200]])
        faiss_check = ivf_recall(store, qvecs)
        size_mb = sum(p.stat().st_size for p in store.folder.rglob("*") if p.is_file()) / 2**20
        result = {
            "files": report.added, "skipped": len(report.skipped), "mb": round(mb, 1),
            "chunks": report.chunks, "ingest_s": round(ingest_s, 1),
            "mb_per_min": round(mb / ingest_s * 60, 2),
            "chunks_per_s": round(report.chunks / ingest_s, 1),
            "bare_encode_chunks_per_s": round(bare, 1),
            "pipeline_vs_bare": round(report.chunks / ingest_s / bare, 3),
            "reindex_unchanged_s": round(reindex_s, 2), "reindex_unchanged": again.unchanged,
            "query_p50_ms": round(p50, 1), "query_p95_ms": round(p95, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "index_mb": round(size_mb, 1), "questions": len(questions),
            "retrieval": quality, "faiss": faiss_check,
        }
        print_report(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_report(r: dict) -> None:
    print(f"ingest: {r['files']} files ({r['mb']} MB, {r['skipped']} skipped), {r['chunks']} chunks "
          f"in {r['ingest_s']} s = {r['mb_per_min']} MB/min, {r['chunks_per_s']} chunks/s")
    print(f"bare SentenceTransformer.encode: {r['bare_encode_chunks_per_s']} chunks/s; "
          f"pipeline/bare = {r['pipeline_vs_bare']}")
    print(f"re-index, nothing changed: {r['reindex_unchanged_s']} s")
    print(f"query latency (hybrid, k=5, with embedding): p50 {r['query_p50_ms']} ms, "
          f"p95 {r['query_p95_ms']} ms")
    print(f"peak RSS {r['peak_rss_mb']} MB; index on disk {r['index_mb']} MB")
    print(f"XQuAD ({r['questions']} questions, gold among all chunks):")
    for mode, q in r["retrieval"].items():
        print(f"  {mode:<8} R@1 {q['recall@1']:.3f}  R@5 {q['recall@5']:.3f}  "
              f"R@10 {q['recall@10']:.3f}  MRR {q['mrr@10']:.3f}")
    print(f"FAISS: {r['faiss']}")
    print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
