"""Generation benchmark for the bundled generator on this machine.

Prints: load time cold (GGUF bundle -> safetensors folder) and warm (the
prepared folder, fresh process); for a ~1,000-token Russian prompt, the time to
first token and decode tokens/s of Lira's streaming path beside plain
``model.generate`` in the same process; peak RSS of each step.

    python bench/generation.py [--skip-cold] [--new-tokens 64] [--home DIR]
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

from assistant.cli import quiet_libraries  # noqa: E402  (offline, no progress bars)

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
RUSLIT = REPO.parent / "shared" / "data" / "ruslit" / "prose"
FALLBACK = ("Москва — столица России, крупнейший по численности населения город страны. "
            "Город стоит на реке Москве в центре Восточно-Европейской равнины. ")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def russian_prompt(tokenizer, target_tokens: int) -> str:
    """About ``target_tokens`` tokens of Russian prose (RusLit if present)."""
    files = sorted(RUSLIT.rglob("*.txt")) if RUSLIT.is_dir() else []
    text = files[0].read_text(encoding="utf-8") if files else FALLBACK * 200
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:target_tokens]
    return tokenizer.decode(ids) + "\n\nКратко перескажи этот отрывок.\nОтвет:"


def child(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


COLD = """
import json, resource, time
from pathlib import Path
from assistant.gemma_bundle import prepare_gemma
t = time.perf_counter(); prepare_gemma(Path({out!r}))
print(json.dumps({{"seconds": time.perf_counter() - t,
                   "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

WARM = """
import json, resource, time
t = time.perf_counter()
from assistant.runtime import load_model
load_model({path!r}, "gemma-3-270m", "cpu")
print(json.dumps({{"seconds": time.perf_counter() - t,
                   "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def bench_plain(loaded, prompt: str, new_tokens: int) -> dict:
    """Baseline: model.generate, greedy; prefill from a 1-token run."""
    import torch

    inputs = loaded.tokenizer(prompt, return_tensors="pt")
    kwargs = dict(do_sample=False, pad_token_id=loaded.tokenizer.pad_token_id)
    with torch.inference_mode():
        loaded.model.generate(**inputs, max_new_tokens=2, **kwargs)  # warm-up
        t = time.perf_counter()
        loaded.model.generate(**inputs, max_new_tokens=1, **kwargs)
        prefill = time.perf_counter() - t
        t = time.perf_counter()
        out = loaded.model.generate(**inputs, max_new_tokens=new_tokens,
                                    min_new_tokens=new_tokens, **kwargs)
        total = time.perf_counter() - t
    made = out.shape[1] - inputs["input_ids"].shape[1]
    return {"prompt_tokens": int(inputs["input_ids"].shape[1]), "new_tokens": int(made),
            "first_token_s": prefill, "decode_tok_s": (made - 1) / max(total - prefill, 1e-9)}


def bench_lira(loaded, prompt: str, new_tokens: int) -> dict:
    """Lira's streaming path (assistant.generation) with the answer preset, no stops."""
    from assistant.generation import PRESETS, Generator

    preset = PRESETS["answer"].with_overrides(max_new_tokens=new_tokens, stop=(),
                                              repetition_penalty=1.0)
    generator = Generator(loaded)
    generator.generate(prompt[:200], preset.with_overrides(max_new_tokens=2))  # warm-up
    result = generator.generate(prompt, preset)
    s = result.stats
    return {"prompt_tokens": s.prompt_tokens, "new_tokens": s.new_tokens,
            "first_token_s": s.first_token_s, "decode_tok_s": s.decode_tokens_per_s,
            "stopped_by": s.stopped_by}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cold", action="store_true", help="skip the ~2 min cold prepare")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt-tokens", type=int, default=1000)
    parser.add_argument("--home", type=Path, help="LIRA_HOME with a prepared model cache")
    args = parser.parse_args()

    from assistant.models import resolve
    from assistant.settings import load_settings

    settings = load_settings({"home": args.home})
    rows: dict[str, dict] = {}
    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as tmp:
            rows["load cold (bundle -> folder)"] = child(COLD.format(out=str(Path(tmp) / "g")))
    path = resolve("gemma-3-270m", settings, lambda m: print(f"  {m}", file=sys.stderr))
    rows["load warm (prepared folder)"] = child(WARM.format(path=str(path)))

    from assistant import compute
    from assistant.runtime import load_model

    # Lira loads and generates on its compute thread; the baseline runs there too,
    # so both see the same thread (see assistant/compute.py for why it matters).
    loaded = compute.run(load_model, path, "gemma-3-270m", "cpu")
    prompt = russian_prompt(loaded.tokenizer, args.prompt_tokens)
    rows["generate: model.generate"] = compute.run(bench_plain, loaded, prompt, args.new_tokens)
    rows["generate: lira stream"] = bench_lira(loaded, prompt, args.new_tokens)
    rows["generate: lira stream"]["rss_mb"] = peak_rss_mb()
    print_table(rows)


def print_table(rows: dict[str, dict]) -> None:
    columns = [("seconds", "seconds", ".1f"), ("prompt", "prompt_tokens", "d"),
               ("new", "new_tokens", "d"), ("TTFT s", "first_token_s", ".2f"),
               ("decode tok/s", "decode_tok_s", ".1f"), ("peak RSS MB", "rss_mb", ".0f")]
    print(f"{'step':<32}" + "".join(f"{title:>14}" for title, _, _ in columns))
    for name, row in rows.items():
        cells = [format(row[key], fmt) if key in row else "-" for _, key, fmt in columns]
        print(f"{name:<32}" + "".join(f"{cell:>14}" for cell in cells))
    print(json.dumps(rows, ensure_ascii=False))


if __name__ == "__main__":
    main()
