"""Adapter training throughput on the bundled generator: answer-only logits vs the plain Trainer.

Trains a LoRA adapter (r=8 on q_proj, v_proj) on the bundled gemma-3-270m for
--steps steps of grounded-answer examples from XQuAD (the product's RAG
prompt, short cited answers), through `lira train`'s own code, twice, each in
a fresh process: with the loss computed from logits at answer positions only
(Lira's path) and with the plain Trainer loss over full logits.  Prints for
each: training tokens/s (prompt + answer, no padding, after the first step),
answer tokens per step, s/step and peak RSS; then the speed-up.

    python bench/train.py [--steps 20] [--max-length 512] [--model gemma-3-270m] [--data FILE]
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
XQUAD = REPO.parent / "shared" / "data" / "xquad-ru" / "xquad.ru.dev36.json"
sys.path.insert(0, str(REPO))


def step_timer(record: dict):
    """A Trainer callback noting the time and tokens seen at the end of each step."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            record.setdefault("marks", []).append((time.perf_counter(),
                                                   state.num_input_tokens_seen))

    return StepTimer()


def run_variant(variant: str, model: str, data: Path, steps: int, max_length: int) -> dict:
    """Train in this process and return its figures (the child's side)."""
    from adapters.methods import MethodOptions
    from adapters.training import TrainJob, TrainOptions, train
    from adapters.training_data import DataOptions
    from assistant.runtime.models import resolve
    from assistant.settings import load_settings

    base = resolve(model, load_settings())
    record: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        options = TrainOptions(method="lora", max_steps=steps, eval_fraction=0.0,
                               max_length=max_length,
                               eval_steps=10 * steps, warmup_steps=2, logging_steps=10 * steps,
                               device="cpu", full_logits=variant == "full",
                               adapter=MethodOptions(rank=8, alpha=16,
                                                     target_modules=("q_proj", "v_proj")),
                               data=DataOptions(max_examples=4 * steps))
        job = TrainJob(base_reference=model, base_path=base, data_paths=[data],
                       out_dir=Path(tmp) / "adapter", options=options,
                       callbacks=[step_timer(record)])
        result = train(job)
    (t0, n0), (t1, n1) = record["marks"][0], record["marks"][-1]
    timed_steps = len(record["marks"]) - 1
    return {"variant": variant, "steps": len(record["marks"]),
            "tokens_per_s": (n1 - n0) / (t1 - t0), "s_per_step": (t1 - t0) / timed_steps,
            "tokens_per_step": (n1 - n0) / timed_steps,
            "train_loss": result.manifest["result"]["train_loss"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child(variant: str, args: argparse.Namespace) -> dict:
    """Run one variant in a fresh interpreter, so each peak RSS is its own."""
    command = [sys.executable, __file__, "--variant", variant, "--steps", str(args.steps),
               "--model", args.model, "--data", str(args.data),
               "--max-length", str(args.max_length)]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per variant")
    parser.add_argument("--model", default="gemma-3-270m", help="base model reference")
    parser.add_argument("--data", type=Path, default=XQUAD, help="SQuAD-format training data")
    parser.add_argument("--max-length", type=int, default=512,
                        help="leave out longer examples (keeps steps short on a CPU)")
    parser.add_argument("--variant", choices=["masked", "full"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.model, args.data, args.steps,
                                     args.max_length)))
        return
    print(f"LoRA r=8 (q_proj, v_proj) on {args.model}, {args.steps} steps of batch 1, "
          f"grounded answers from {args.data.name} up to {args.max_length} tokens; "
          f"{os.cpu_count()} CPU cores")
    rows = [child(variant, args) for variant in ("masked", "full")]
    print(f"{'loss over':<24} {'tokens/s':>9} {'s/step':>8} {'tokens/step':>12} "
          f"{'train loss':>11} {'peak RSS MB':>12}")
    for row in rows:
        name = "answer logits (Lira)" if row["variant"] == "masked" else "full logits (Trainer)"
        print(f"{name:<24} {row['tokens_per_s']:>9.1f} {row['s_per_step']:>8.2f} "
              f"{row['tokens_per_step']:>12.0f} {row['train_loss']:>11.4f} "
              f"{row['peak_rss_mb']:>12.0f}")
    print(f"speed-up: {rows[0]['tokens_per_s'] / rows[1]['tokens_per_s']:.2f}x; "
          f"peak RSS saved: {rows[1]['peak_rss_mb'] - rows[0]['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
