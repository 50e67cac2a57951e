"""Memory and disk each seed model needs, as adapters/model_size.py figures them (the README's
"Sizing" table). Parameters are counted on torch's meta device from the configs' fields in
adapters.model_size.SEED_CONFIGS: nothing is downloaded and no memory is used.

    python bench/sizing.py            # a Markdown table
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters import model_size  # noqa: E402

# The dtype of each model's weights as Lira stores them: the published files (None: not
# checked here), and gemma-3-270m as Lira prepares it from its GGUF.
STORED = {"ai-forever/ruT5-large": "fp32", "openlm-research/open_llama_3b": "fp16",
          "openlm-research/open_llama_7b": "fp16", "ai-forever/ruGPT-3.5-13B": None,
          "google/gemma-3-270m": "fp32"}
RUN = ("fp32", "bf16", "8bit", "4bit")
TRAIN = ("fp32", "8bit", "4bit")  # Lira trains unquantised adapters on float32 weights


def gb(n: float) -> str:
    return f"{n / model_size.GB:.1f}"


def disk(name: str, parameters: int) -> str:
    dtype = STORED[name]
    if dtype is None:
        return f"{gb(parameters * 4)} fp32 or {gb(parameters * 2)} fp16"
    return f"{gb(parameters * (4 if dtype == 'fp32' else 2))} ({dtype})"


def row(name: str) -> str:
    shape = model_size.model_shape(model_size.seed_config(name))
    run = [gb(model_size.bytes_needed(shape, p, "run").total) for p in RUN]
    train = [gb(model_size.bytes_needed(shape, p, "train").total) for p in TRAIN]
    return " | ".join(["", f"`{name}`", model_size.billions(shape.parameters),
                       disk(name, shape.parameters), *run, *train, ""]).strip()


def main() -> None:
    warnings.simplefilter("ignore")
    print("| model | parameters | disk, GB | run fp32 | run bf16 | run 8-bit | run 4-bit "
          "| train fp32 | train 8-bit | train 4-bit |")
    print("|---" * 10 + "|")
    for name in model_size.SEED_CONFIGS:
        print(row(name))


if __name__ == "__main__":
    main()
