"""The poet adapter on llama.cpp against the transformers path: the same sampling distribution?

Sampled poems cannot show parity by their scores: twelve poems' chrF++ moves by
3-8 points from one seed to the next on either engine.  So this compares what
both engines sample from.  Each held-out poem (the poet manifest's, as
bench/adapter_quality.py rebuilds them) is read token by token after its prompt,
original text and end marker included (teacher forcing, the same token ids on
both engines); at every position each engine's next-token logits go through the
same processing, the poem preset's (the vocabulary subset, the repetition
penalty over the sequence, no repeated 4-gram, temperature, top-k, top-p), and
the two sampling distributions are compared:

- total variation distance (half the L1 distance: the most any event's
  probability differs), mean and 95th percentile over positions;
- how often the most likely token is the same;
- the end marker's first-token probability where the poem ends (what the
  self-stop rate samples).

The reference is the float32 transformers path (``speed.output_int8`` off).  For
scale, the same figures for Lira's own torch path (its int8 output rows) against
that reference, and for the adapter's effect (the bare base against the
reference): the engines should differ about as much as Lira's own speed-ups do,
and far less than the adapter changes the model.  The last row compares the two
engines without the adapter: what the engine alone changes, apart from the
adapter's export.

    python bench/poet_parity.py [--poems N] [--tokens 160]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assistant.runtime.offline import quiet_libraries

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.adapter_quality import BUNDLED, manifest_of, poet_items, progress  # noqa: E402


def sampling_distribution(logits, seen: list[int], preset, outside):
    """The distribution the poem preset samples from, given raw next-token ``logits`` (numpy)
    after the token ids ``seen``: Lira's llama.cpp processors, then top-k and top-p as
    transformers applies them."""
    import numpy as np

    from assistant.runtime.llama_engine import sampling_processors

    scores = logits.astype(np.float32).copy()
    processors = sampling_processors(preset, outside)
    if processors is not None:
        scores = processors(np.asarray(seen, dtype=np.intc), scores)
    if preset.top_k:
        kth = np.partition(scores, -preset.top_k)[-preset.top_k]
        scores[scores < kth] = -np.inf
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    if preset.top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        before = np.cumsum(probs[order]) - probs[order]  # mass of the more likely tokens
        probs[order[before >= preset.top_p]] = 0.0  # as transformers: keep while the mass above < p
        probs /= probs.sum()
    return probs


def torch_logits(generator, ids: list[int]):
    """Next-token logits at every position of ``ids`` on the transformers path (numpy)."""
    import torch

    with torch.inference_mode():
        logits = generator.loaded.model(torch.tensor([ids])).logits[0]
    return logits.float().numpy()


def llama_logits(generator, ids: list[int], start: int):
    """Next-token logits after each prefix ``ids[:i + 1]`` for i >= start - 1, on llama.cpp."""
    import llama_cpp
    import numpy as np

    llama = generator.loaded.llama
    llama.reset()
    llama.eval(ids[:start])
    rows = [np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama.ctx, -1),
                                  shape=(llama.n_vocab(),)).copy()]
    for token in ids[start:-1]:
        llama.eval([token])
        rows.append(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama.ctx, -1),
                                          shape=(llama.n_vocab(),)).copy())
    return np.stack(rows)


def compare(first, second, ids: list[int], start: int, preset, outside) -> dict:
    """Per-position TV distance and top-1 agreement of two engines' sampling distributions
    (``first`` and ``second``: logits rows for positions start-1 .. len(ids)-2)."""
    import numpy as np

    tv, same = [], []
    for row, (a, b) in enumerate(zip(first, second)):
        seen = ids[:start + row]
        p = sampling_distribution(a, seen, preset, outside)
        q = sampling_distribution(b, seen, preset, outside)
        tv.append(0.5 * float(np.abs(p - q).sum()))
        same.append(int(p.argmax() == q.argmax()))
    return {"tv": tv, "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poems", type=int, help="only the first N held-out poems")
    parser.add_argument("--tokens", type=int, default=160,
                        help="the poem's first N tokens (and the end marker where it fits)")
    args = parser.parse_args()

    import numpy as np

    from adapters.poem_template import END_OF_POEM, build_poem_prompt
    from assistant.engine import Engine
    from assistant.runtime.presets import PRESETS
    from assistant.settings import load_settings

    preset = PRESETS["poem"]
    adapter = str(BUNDLED / "poet")
    llama = Engine(load_settings({"poem.engine": "llama.cpp"})).generator("poem", adapter)
    float32 = Engine(load_settings({"poem.engine": "transformers", "speed.output_int8": False}))
    reference = float32.generator("poem", adapter)
    lira_torch = Engine(load_settings({"poem.engine": "transformers"})).generator("poem", adapter)
    torch_base = float32.generator("poem", "none")
    llama_base = Engine(load_settings({"poem.engine": "llama.cpp"})).generator("poem", "none")
    for label, generator in (("llama.cpp", llama), ("float32", reference),
                             ("Lira torch", lira_torch)):
        print(f"{label + ':':<12}{generator.loaded.describe()}")
    tokenizer = reference.loaded.tokenizer
    outside = llama.loaded.outside
    poems = poet_items(manifest_of(BUNDLED / "poet"), reference, args.poems)
    # each row: a distribution against its reference (the last: both engines without adapter)
    rows = {label: {"tv": [], "same": []} for label in (
        "llama.cpp (q4_k_m + merged IA3)", "Lira torch (int8 output rows)",
        "bare base, no adapter", "llama.cpp base vs float32 base")}
    marker = tokenizer(END_OF_POEM, add_special_tokens=False)["input_ids"][:1]
    ends = []
    with progress(len(poems), "poems") as bar:
        for poem in poems:
            prompt = tokenizer(build_poem_prompt(poem.author, poem.title))["input_ids"]
            text = tokenizer(poem.text, add_special_tokens=False)["input_ids"]
            body = text[:args.tokens]
            ids, start = prompt + body + marker, len(prompt)
            truth = torch_logits(reference, ids)[start - 1:-1]
            bare = torch_logits(torch_base, ids)[start - 1:-1]
            on_llama = llama_logits(llama, ids, start)
            pairs = [(on_llama, truth), (torch_logits(lira_torch, ids)[start - 1:-1], truth),
                     (bare, truth), (llama_logits(llama_base, ids, start), bare)]
            for run, (logits, against) in zip(rows.values(), pairs):
                for key, value in compare(logits, against, ids, start, preset, outside).items():
                    run[key] += value
            if len(body) == len(text):
                ends.append([float(sampling_distribution(logits[-1], ids[:-1], preset, outside)[ids[-1]])
                             for logits in (on_llama, truth)])
            bar.update()
    count = len(next(iter(rows.values()))["tv"])
    print(f"\n{count} positions in {len(poems)} held-out poems (first {args.tokens} tokens "
          "each): the poem preset's sampling distribution against the float32 transformers path")
    print(f"{'':<34}{'TV mean':>9}{'TV p95':>9}{'same top-1':>12}")
    for label, run in rows.items():
        tv = np.asarray(run["tv"])
        print(f"{label:<34}{tv.mean():>9.3f}{np.percentile(tv, 95):>9.3f}"
              f"{100 * np.mean(run['same']):>11.1f}%")
    if ends:
        pairs = np.asarray(ends)
        print(f"\nthe end marker's first token where the poem ends ({len(ends)} poems within "
              f"--tokens), mean probability: llama.cpp {pairs[:, 0].mean():.3f}, float32 "
              f"{pairs[:, 1].mean():.3f}")


if __name__ == "__main__":
    main()
