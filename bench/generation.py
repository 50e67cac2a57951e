"""Generation speed and quality on this machine: the plain baseline, Lira's path, llama.cpp.

Side by side, each in a fresh process (so each peak RSS is its own), for the
bundled gemma-3-270m and a ~1,000-token Russian prompt, 64 greedy tokens:

- baseline: transformers float32, ``model.generate`` (no adapter, no speed-ups);
- lira fp32: Lira's streaming path with the chat adapter and every speed-up off;
- lira: Lira's path with the chat adapter and its speed settings, read like the
  product reads them (LIRA_SPEED_* over lira.toml over the defaults: merged
  adapter, lean decode, output-layer subset in int8, prompt-cache reuse; smoothed
  int8 layers when on), so each speed-up can be measured on its own;
- lira llama.cpp: Lira's llama.cpp engine (assistant.runtime.llama_engine) on the
  bundled q4_k_m GGUF with the chat adapter as the product runs it (merged into a
  copy of the base; a llama.cpp LoRA with LIRA_SPEED_MERGE_ADAPTER=0), streamed
  through the same TextStream path;
- llama.cpp: the same GGUF through llama-cpp-python's own API, no adapter.

Columns: load s, prefill s (time to the first token), decode tok/s, time to
first token of a follow-up turn (the first prompt + its answer + a new
question), peak RSS.  Then quality of Lira's path against "lira fp32": on
--agree-prompts held-out XQuAD prompts, the share of greedy outputs identical
token for token and the mean share of leading tokens that agree.  EM/F1/chrF++
on the chat adapter's held-out questions come from bench/adapter_quality.py run
with each speed setting (see the README).

    python bench/generation.py [--new-tokens 64] [--prompt-tokens 1000] [--agree-prompts 20]
    python bench/generation.py --device cuda [--quantization 8bit] [--random-shape openllama-3b]

On a GPU (--device cuda) the same rows run there (bfloat16, or bitsandbytes 8/4-bit with
--quantization; the CPU speed-ups do not apply), and --random-shape adds the decode speed
of a random-weight model of a production base's shape (speed only).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assistant.runtime.offline import quiet_libraries  # noqa: E402  (offline, no progress bars)

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
RUSLIT = DATA / "ruslit" / "prose"
XQUAD = DATA / "xquad-ru" / "xquad.ru.dev36.json"
CHAT_ADAPTER = REPO / "adapters" / "bundled" / "chat"
FOLLOW_UP = "\nВопрос: А что было дальше? Ответь одним предложением.\nОтвет:"
VARIANTS = ("baseline", "lira fp32", "lira", "lira llama.cpp", "llama.cpp")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def russian_prompt(tokenizer, target_tokens: int) -> str:
    """About ``target_tokens`` tokens of Russian prose (RusLit), then a task."""
    text = sorted(RUSLIT.rglob("*.txt"))[0].read_text(encoding="utf-8")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:target_tokens]
    return tokenizer.decode(ids) + "\n\nКратко перескажи этот отрывок.\nОтвет:"


def agreement_prompts(count: int) -> list[str]:
    """Grounded-answer prompts of the chat adapter's held-out XQuAD articles."""
    from adapters.data_squad import holdout_questions

    document = json.loads(XQUAD.read_text(encoding="utf-8"))
    return [item.prompt for item in holdout_questions(document, 42, 6)[:count]]


# ----- the variants (each runs in its own process) ---------------------------------------------
def run_baseline(args: argparse.Namespace) -> dict:
    """transformers float32, plain generate, greedy."""
    import torch

    from assistant.runtime.loading import load_model

    started = time.perf_counter()
    loaded = load_model(model_path(), "gemma-3-270m", args.device, args.quantization)
    load_s = time.perf_counter() - started
    prompt = russian_prompt(loaded.tokenizer, args.prompt_tokens)
    inputs = loaded.tokenizer(prompt, return_tensors="pt").to(loaded.model.device)
    kwargs = dict(do_sample=False, pad_token_id=loaded.tokenizer.pad_token_id)
    with torch.inference_mode():
        loaded.model.generate(**inputs, max_new_tokens=2, **kwargs)  # warm-up
        t = time.perf_counter()
        loaded.model.generate(**inputs, max_new_tokens=1, **kwargs)
        prefill = time.perf_counter() - t
        t = time.perf_counter()
        out = loaded.model.generate(**inputs, max_new_tokens=args.new_tokens,
                                    min_new_tokens=args.new_tokens, **kwargs)
        total = time.perf_counter() - t
        answer = loaded.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:],
                                         skip_special_tokens=True)
        follow = loaded.tokenizer(prompt + answer + FOLLOW_UP,
                                  return_tensors="pt").to(loaded.model.device)
        t = time.perf_counter()
        loaded.model.generate(**follow, max_new_tokens=1, **kwargs)
        follow_s = time.perf_counter() - t
    made = out.shape[1] - inputs["input_ids"].shape[1]
    return {"load_s": load_s, "prompt_tokens": int(inputs["input_ids"].shape[1]),
            "prefill_s": prefill, "decode_tok_s": (made - 1) / max(total - prefill, 1e-9),
            "follow_up_ttft_s": follow_s, "speedups": "none"}


def run_lira(args: argparse.Namespace, fast: bool) -> dict:
    """Lira's Generator with the chat adapter, speed settings on or off."""
    from assistant.runtime import compute
    from assistant.runtime.generation import Generator
    from assistant.runtime.loading import load_model
    from assistant.settings import SpeedSettings, load_settings

    # The fast row takes the speed settings from LIRA_SPEED_* and lira.toml, to measure each one.
    speed = load_settings().speed if fast else SpeedSettings.off()
    started = time.perf_counter()
    adapter = CHAT_ADAPTER if CHAT_ADAPTER.is_dir() else None
    loaded = compute.run(load_model, model_path(), "gemma-3-270m", args.device,
                         args.quantization, adapter, speed)
    load_s = time.perf_counter() - started
    row = measure(Generator(loaded), loaded.tokenizer, args)
    return {"load_s": load_s, **row, "speedups": ", ".join(loaded.speedups) or "none",
            "adapter": str(adapter) if adapter else None}


def measure(generator, tokenizer, args: argparse.Namespace) -> dict:
    """Prefill, decode and follow-up timings of a generator, and its greedy token ids on the
    agreement prompts (in ``tokenizer``'s ids, so every engine is compared alike)."""
    from assistant.runtime.presets import PRESETS

    preset = PRESETS["answer"].with_overrides(max_new_tokens=args.new_tokens, stop=(),
                                              repetition_penalty=1.0)
    prompt = russian_prompt(tokenizer, args.prompt_tokens)
    generator.generate("Москва — столица", preset.with_overrides(max_new_tokens=2))  # warm-up
    first = generator.generate(prompt, preset)
    follow = generator.generate(prompt + first.text + FOLLOW_UP,
                                preset.with_overrides(max_new_tokens=1))
    agree = [generator.generate(p, preset.with_overrides(max_new_tokens=args.agree_tokens))
             for p in agreement_prompts(args.agree_prompts)]
    stats = first.stats
    return {"prompt_tokens": stats.prompt_tokens, "prefill_s": stats.first_token_s,
            "decode_tok_s": stats.decode_tokens_per_s,
            "follow_up_ttft_s": follow.stats.first_token_s,
            "follow_up_reused": follow.stats.reused_tokens,
            "agree_ids": [tokenizer(g.text, add_special_tokens=False)["input_ids"]
                          for g in agree]}


def run_lira_llama(args: argparse.Namespace) -> dict:
    """Lira's llama.cpp engine with the chat adapter, merged or as a llama.cpp LoRA."""
    from transformers import AutoTokenizer

    from assistant.runtime import compute
    from assistant.runtime.engines import adapter_gguf, gguf_source
    from assistant.runtime.llama_engine import LlamaGenerator, load_gguf
    from assistant.settings import load_settings

    settings = load_settings()
    gguf = gguf_source("gemma-3-270m", settings)
    run = adapter_gguf(CHAT_ADAPTER, gguf, settings)  # exported once, before the clock
    started = time.perf_counter()
    generator = LlamaGenerator(compute.run(load_gguf, run.model, "gemma-3-270m", run.lora))
    load_s = time.perf_counter() - started
    tokenizer = AutoTokenizer.from_pretrained(str(model_path()))
    return {"load_s": load_s, **measure(generator, tokenizer, args),
            "speedups": "q4_k_m + " + ("LoRA" if run.lora else "merged adapter")}


def run_llama_cpp(args: argparse.Namespace) -> dict:
    """The bundled q4_k_m GGUF through llama-cpp-python's own API (loaded as Lira loads
    it: weights in plain buffers, see assistant.runtime.llama_engine)."""
    from assistant.runtime.gemma_bundle import assemble_gguf
    from assistant.runtime.llama_engine import load_gguf

    with tempfile.TemporaryDirectory() as tmp:
        gguf = assemble_gguf(Path(tmp))
        started = time.perf_counter()
        llm = load_gguf(gguf, "gemma-3-270m").llama
        load_s = time.perf_counter() - started
        from transformers import AutoTokenizer

        prompt = russian_prompt(AutoTokenizer.from_pretrained(str(model_path())),
                                args.prompt_tokens)
        t = time.perf_counter()
        llm(prompt, max_tokens=1, temperature=0.0)
        prefill = time.perf_counter() - t
        llm.reset()
        t = time.perf_counter()
        out = llm(prompt, max_tokens=args.new_tokens, temperature=0.0)
        total = time.perf_counter() - t
        made = out["usage"]["completion_tokens"]
        t = time.perf_counter()  # llama.cpp keeps the last prompt's cache itself
        llm(prompt + out["choices"][0]["text"] + FOLLOW_UP, max_tokens=1, temperature=0.0)
        follow_s = time.perf_counter() - t
    return {"load_s": load_s, "prompt_tokens": out["usage"]["prompt_tokens"],
            "prefill_s": prefill, "decode_tok_s": (made - 1) / max(total - prefill, 1e-9),
            "follow_up_ttft_s": follow_s, "speedups": "q4_k_m"}


def run_random_shape(args: argparse.Namespace) -> dict:
    """Decode speed of a random-weight model of a production shape (GPU only: speed, no text)."""
    import torch
    from transformers import AutoModelForCausalLM

    from adapters.base_model import compute_dtype
    from assistant.runtime.loading import pick_device

    device = pick_device(args.device)
    config = random_config(args.random_shape)
    started = time.perf_counter()
    with torch.device(device if args.quantization == "none" else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=compute_dtype(device))
    load_s = time.perf_counter() - started
    ids = torch.randint(100, config.vocab_size - 100, (1, args.prompt_tokens), device=device)
    with torch.inference_mode():
        model.generate(ids, max_new_tokens=2, do_sample=False)  # warm-up
        sync(device)
        t = time.perf_counter()
        model.generate(ids, max_new_tokens=1, do_sample=False)
        sync(device)
        prefill = time.perf_counter() - t
        t = time.perf_counter()
        model.generate(ids, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                       do_sample=False)
        sync(device)
        total = time.perf_counter() - t
    return {"load_s": load_s, "prompt_tokens": args.prompt_tokens, "prefill_s": prefill,
            "decode_tok_s": (args.new_tokens - 1) / max(total - prefill, 1e-9),
            "speedups": f"random {args.random_shape}, {device}"}


def random_config(shape: str):
    """Configs of the production bases' shapes (the seeds' OpenLLaMA-3B and ruGPT-3.5-13B)."""
    from transformers import GPT2Config, LlamaConfig

    if shape == "openllama-3b":
        return LlamaConfig(vocab_size=32000, hidden_size=3200, intermediate_size=8640,
                           num_hidden_layers=26, num_attention_heads=32,
                           max_position_embeddings=2048)
    return GPT2Config(vocab_size=50272, n_embd=5120, n_layer=40, n_head=40, n_positions=2048)


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def model_path() -> Path:
    from assistant.runtime.models import resolve
    from assistant.settings import load_settings

    return resolve("gemma-3-270m", load_settings())


def child(variant: str, args: argparse.Namespace) -> dict | None:
    """Run one variant in a fresh interpreter; None when it cannot run here."""
    command = [sys.executable, __file__, "--variant", variant] + [
        f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
        if k != "variant" and v is not None]
    out = subprocess.run(command, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    if out.returncode != 0:
        print(f"{variant}: skipped ({(out.stderr.strip().splitlines() or ['failed'])[-1]})",
              file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def agreement(fast: list[list[int]], exact: list[list[int]]) -> dict:
    """Identical outputs and the mean share of agreeing leading tokens."""
    same = sum(a == b for a, b in zip(fast, exact))
    leading = []
    for a, b in zip(fast, exact):
        n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        leading.append(n / max(len(a), len(b), 1))
    return {"identical": same / len(exact), "leading_share": sum(leading) / len(leading),
            "prompts": len(exact)}


def print_table(rows: dict[str, dict]) -> None:
    columns = [("load s", "load_s", ".1f"), ("prompt", "prompt_tokens", "d"),
               ("prefill s", "prefill_s", ".2f"), ("decode tok/s", "decode_tok_s", ".1f"),
               ("follow-up TTFT s", "follow_up_ttft_s", ".2f"), ("peak RSS MB", "rss_mb", ".0f")]
    print(f"{'engine':<15}" + "".join(f"{title:>18}" for title, _, _ in columns) + "  speed-ups")
    for name, row in rows.items():
        cells = [format(row[key], fmt) if row.get(key) is not None else "-"
                 for _, key, fmt in columns]
        print(f"{name:<15}" + "".join(f"{c:>18}" for c in cells) + f"  {row['speedups']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt-tokens", type=int, default=1000)
    parser.add_argument("--agree-prompts", type=int, default=20)
    parser.add_argument("--agree-tokens", type=int, default=32)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--quantization", choices=["none", "8bit", "4bit"], default="none",
                        help="bitsandbytes loading (GPU)")
    parser.add_argument("--random-shape", choices=["openllama-3b", "rugpt3.5-13b"],
                        help="also time a random-weight model of this shape (GPU)")
    parser.add_argument("--variant", choices=VARIANTS + ("random",), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        runners = {"baseline": run_baseline, "lira fp32": lambda a: run_lira(a, False),
                   "lira": lambda a: run_lira(a, True), "llama.cpp": run_llama_cpp,
                   "lira llama.cpp": run_lira_llama,
                   "random": run_random_shape}
        row = runners[args.variant](args)
        row["rss_mb"] = peak_rss_mb()
        print(json.dumps(row))
        return
    print(f"gemma-3-270m on {args.device} ({args.quantization}), {args.prompt_tokens}-token "
          f"Russian prompt, {args.new_tokens} greedy tokens, {os.cpu_count()} CPU cores")
    variants = VARIANTS + (("random",) if args.random_shape else ())
    rows = {v: r for v in variants if (r := child(v, args)) is not None}
    print_table(rows)
    exact = rows.get("lira fp32", {}).pop("agree_ids", None)
    for name in ("lira", "lira llama.cpp"):
        if exact is not None and name in rows:
            share = agreement(rows[name].pop("agree_ids"), exact)
            print(f"greedy agreement of {name} with lira fp32 on {share['prompts']} held-out "
                  f"XQuAD prompts ({args.agree_tokens} tokens): {100 * share['identical']:.0f}% "
                  f"identical, {100 * share['leading_share']:.1f}% of leading tokens agree")
        rows["agreement"] = share
    base = rows.get("baseline")
    if base and "lira" in rows:
        print(f"lira decode speed-up over the baseline: "
              f"{rows['lira']['decode_tok_s'] / base['decode_tok_s']:.2f}x")
    print(json.dumps(rows, ensure_ascii=False))


if __name__ == "__main__":
    main()
