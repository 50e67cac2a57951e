"""When should the vector index stop being exact?  Flat vs IVF as the index grows.

Real e5 vectors are taken from an existing index (``--home``/``--name``) and
grown to each size by jittering random real vectors (so the data keeps the
clustered shape of real embeddings); queries are real question embeddings.
Prints, per size: exact search ms/query, IVF build s, and for several nprobe
values the IVF ms/query and its top-10 overlap with exact search.

    python bench/faiss_scaling.py --home /tmp/ruslit-home --name ruslit
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from assistant.runtime.offline import quiet_libraries  # noqa: E402  (offline, no progress bars)

quiet_libraries()
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def grow(base, size: int, rng):
    import numpy as np

    picks = base[rng.integers(0, len(base), size)]
    grown = picks + rng.normal(0, 0.03, picks.shape).astype(np.float32)
    return grown / np.linalg.norm(grown, axis=1, keepdims=True)


def timed_search(index, queries, k=10):
    started = time.perf_counter()
    results = [index.search(q[None, :], k)[0] for q in queries]
    return results, (time.perf_counter() - started) / len(queries) * 1000


def measure(vectors, queries, probes: list[int]) -> dict:
    import numpy as np

    from index import vectors as vec

    ids = np.arange(len(vectors), dtype=np.int64)
    exact = vec.FaissIndex.build(vectors.shape[1], [(ids, vectors)], 0)  # 0 forces flat
    truth, exact_ms = timed_search(exact, queries)
    started = time.perf_counter()
    ivf = vec.FaissIndex._build_ivf(vectors.shape[1], [(ids, vectors)], len(vectors))
    row = {"n": len(vectors), "exact_ms": round(exact_ms, 2),
           "ivf_build_s": round(time.perf_counter() - started, 1), "ivf": {}}
    for nprobe in probes:
        ivf.index.nprobe = nprobe
        found, ms = timed_search(ivf, queries)
        overlap = np.mean([len({i for i, _ in a} & {i for i, _ in b}) / max(1, len(a))
                           for a, b in zip(truth, found)])
        row["ivf"][nprobe] = {"ms": round(ms, 2), "overlap@10": round(float(overlap), 4)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--name", default="ruslit")
    parser.add_argument("--sizes", default="50000,100000,200000")
    parser.add_argument("--probes", default="32,64,96,128")
    args = parser.parse_args()
    import numpy as np

    from assistant.engine import Engine
    from assistant.settings import load_settings

    settings = load_settings({"home": args.home})
    store = Engine(settings).open_index(args.name)
    base = np.concatenate([v for _, v in store._stored_vectors()])
    questions = [r[0] for r in store.conn.execute("SELECT text FROM chunks LIMIT 200")]
    queries = Engine(settings).embedder().embed_queries([q[:200] for q in questions])
    rng = np.random.default_rng(0)
    probes = [int(p) for p in args.probes.split(",")]
    rows = [measure(grow(base, int(n), rng), queries, probes) for n in args.sizes.split(",")]
    for row in rows:
        ivf = "  ".join(f"np{p}: {v['ms']} ms {v['overlap@10']:.3f}" for p, v in row["ivf"].items())
        print(f"n={row['n']:>8}  exact {row['exact_ms']:>6} ms  ivf build {row['ivf_build_s']} s  {ivf}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
