"""What Lira's llama.cpp engine costs over the bare binding, measured interleaved in one process.

Decode speeds on this machine drift by up to a third between runs, more than the
differences measured here, so the engines take turns: each round generates the
same number of greedy tokens after the same ~1,000-token prompt with

- bare: llama-cpp-python's own loop and greedy sampler on the bundled q4_k_m
  GGUF, no adapter, nothing in Python per token;
- lira merged: Lira's engine (LlamaGenerator.stream: its worker thread, the
  vocabulary subset and the answer preset's repetition penalty over the whole
  sequence) on the GGUF with the chat adapter merged in (the default);
- lira lora: the same with the chat adapter applied at run time as a llama.cpp
  LoRA (``speed.merge_adapter = false``).

Printed: each engine's median decode tok/s over the rounds, every round, and the
gap to bare.  The prompt is re-read every round (the cache is cleared) so every
engine decodes at the same depth; the end-of-text tokens are masked for Lira's
engine (the bare loop ignores them) so that every round writes all its tokens.
Everything runs on Lira's compute thread, as in the product: llama.cpp's
OpenMP threads are a team per calling thread, and two teams on two cores slow
each other down by a third.

    python bench/llama_overhead.py [--rounds 6] [--new-tokens 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from assistant.runtime.offline import quiet_libraries

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.generation import CHAT_ADAPTER, model_path, russian_prompt  # noqa: E402


def bare_decode(llama, prompt: str, new_tokens: int) -> float:
    """Decode tok/s of the binding's own greedy loop, after a fresh prefill."""
    ids = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
    llama.reset()
    made, first = 0, None
    for _ in llama.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0):
        first = first or time.perf_counter()
        made += 1
        if made >= new_tokens:
            break
    return (made - 1) / (time.perf_counter() - first)


def lira_decode(generator, prompt: str, preset) -> float:
    """Decode tok/s of Lira's stream, after a fresh prefill."""
    from assistant.runtime import compute

    compute.run(generator.loaded.llama.reset)
    stream = generator.stream(prompt, preset)
    for _ in stream:
        pass
    return stream.stats.decode_tokens_per_s


def never_ending(generator):
    """``generator`` with its end-of-text tokens masked, so it writes as long as asked."""
    import llama_cpp

    loaded = generator.loaded
    vocab = llama_cpp.llama_model_get_vocab(loaded.llama.model)
    ends = [token for token in range(loaded.llama.n_vocab())
            if llama_cpp.llama_vocab_is_eog(vocab, token)]
    loaded.outside = loaded.outside.copy()
    loaded.outside[ends] = True
    return generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt-tokens", type=int, default=1000)
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from assistant.runtime import compute
    from assistant.runtime.engines import adapter_gguf, gguf_source
    from assistant.runtime.llama_engine import LlamaGenerator, load_gguf
    from assistant.runtime.presets import PRESETS
    from assistant.settings import load_settings

    settings = load_settings()
    threads = settings.speed.threads or None
    gguf = gguf_source("gemma-3-270m", settings)
    merged = adapter_gguf(CHAT_ADAPTER, gguf, settings)
    lora = adapter_gguf(CHAT_ADAPTER, gguf, replace(settings, speed=replace(
        settings.speed, merge_adapter=False)))
    bare = compute.run(load_gguf, gguf, "gemma-3-270m", None, threads).llama
    engines = {"lira merged": LlamaGenerator(compute.run(load_gguf, merged.model, "gemma-3-270m",
                                                         None, threads)),
               "lira lora": LlamaGenerator(compute.run(load_gguf, lora.model, "gemma-3-270m",
                                                       lora.lora, threads))}
    for generator in engines.values():
        never_ending(generator)
    prompt = russian_prompt(AutoTokenizer.from_pretrained(str(model_path())), args.prompt_tokens)
    # the answer preset as `lira ask` runs it, to a fixed length
    preset = PRESETS["answer"].with_overrides(max_new_tokens=args.new_tokens, stop=())
    speeds: dict[str, list[float]] = {"bare": [], **{name: [] for name in engines}}
    for _ in range(args.rounds):
        speeds["bare"].append(compute.run(bare_decode, bare, prompt, args.new_tokens))
        for name, generator in engines.items():
            speeds[name].append(lira_decode(generator, prompt, preset))
    reference = statistics.median(speeds["bare"])
    print(f"decode tok/s, {args.rounds} interleaved rounds of {args.new_tokens} greedy tokens "
          f"after a {args.prompt_tokens}-token prompt, {threads or 'all'} threads")
    for name, values in speeds.items():
        middle = statistics.median(values)
        print(f"{name:<12}{middle:>7.1f}  ({100 * (middle / reference - 1):+.1f}% against bare)  "
              f"rounds {[round(v, 1) for v in values]}")


if __name__ == "__main__":
    main()
