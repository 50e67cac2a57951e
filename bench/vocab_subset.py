"""Choose the output-layer subset for the bundled generator from a Russian corpus, and check it.

Builds the subset from RusLit (prose, poems, publicism: public-domain Russian)
and measures its coverage on text it was not built from: XQuAD-ru contexts,
questions and answers and the rulm instruction tasks.  Coverage is the share
of those texts' tokens (as the full tokenizer splits them) inside the subset;
a text outside it can still be written, in smaller pieces, but the model's
first choice would be lost.  With --write, saves the subset into
assistant/runtime/cpu/vocab (keyed by the tokenizer's vocabulary digest), where the
runtime finds it.

    python bench/vocab_subset.py [--min-count 2] [--write]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from assistant.runtime.offline import quiet_libraries

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"


def corpus_texts():
    """RusLit files, one text per file."""
    for path in sorted((DATA / "ruslit").rglob("*.txt")):
        yield path.read_text(encoding="utf-8", errors="replace")


def held_out_texts() -> list[str]:
    """Texts the subset is not built from."""
    squad = json.loads((DATA / "xquad-ru" / "xquad.ru.dev36.json").read_text(encoding="utf-8"))
    texts = []
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            texts.append(paragraph["context"])
            for qa in paragraph["qas"]:
                texts += [qa["question"]] + [a["text"] for a in qa["answers"]]
    for line in (DATA / "rulm" / "ru_alpaca_seed_tasks.jsonl").read_text(encoding="utf-8").splitlines():
        task = json.loads(line)
        texts.append(task["instruction"])
        texts += [i.get("input", "") + "\n" + i.get("output", "") for i in task["instances"]]
    return texts


def coverage(tokenizer, ids: set[int], texts: list[str]) -> tuple[float, float]:
    """(share of tokens inside the subset, share of texts entirely inside it)."""
    inside = total = whole = 0
    for text in texts:
        tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
        hits = sum(t in ids for t in tokens)
        inside, total = inside + hits, total + len(tokens)
        whole += hits == len(tokens)
    return inside / max(total, 1), whole / max(len(texts), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m")
    parser.add_argument("--min-count", type=int, default=2,
                        help="keep corpus tokens seen at least this often")
    parser.add_argument("--write", action="store_true", help="save into assistant/runtime/cpu/vocab")
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from assistant.runtime.cpu.vocab_subset import build_subset, save_subset
    from assistant.runtime.models import resolve
    from assistant.settings import load_settings

    tokenizer = AutoTokenizer.from_pretrained(str(resolve(args.model, load_settings())))
    started = time.perf_counter()
    ids = build_subset(tokenizer, corpus_texts(), args.min_count)
    built_s = time.perf_counter() - started
    held = held_out_texts()
    token_share, text_share = coverage(tokenizer, set(ids), held)
    print(f"{args.model}: {len(ids):,} of {len(tokenizer):,} tokens "
          f"({100 * len(ids) / len(tokenizer):.1f}%), min count {args.min_count}, "
          f"built in {built_s:.0f} s")
    print(f"held-out coverage ({len(held):,} XQuAD/rulm texts): {100 * token_share:.2f}% of "
          f"tokens, {100 * text_share:.1f}% of texts entirely")
    if args.write:
        path = save_subset(ids, tokenizer, {
            "model": args.model, "corpus": "RusLit (d0rj/RusLit, public domain), all files",
            "min_count": args.min_count, "held_out_token_coverage": round(token_share, 5)})
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
