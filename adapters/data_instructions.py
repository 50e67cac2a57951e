"""Instruction data: alpaca-shaped records and the rulm seed tasks.

* ``{"instruction", "input", "output"}`` per record (lksy/ru_instruct_gpt4,
  alpaca; ``input`` may be empty or null), as JSON lines or one JSON array;
* ``{"instruction", "instances": [{"input", "output"}, ...]}`` (rulm's
  self-instruct seed tasks): one example per instance.

Each becomes the product's own no-retrieval prompt (``Вопрос: ...\\nОтвет:``),
so the adapter is trained on what the chat will send it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from adapters.examples import Example
from adapters.rag_prompt import build_plain_prompt


def is_instruction_record(record: Any) -> bool:
    """Whether a JSON record has the alpaca or the seed-task shape."""
    return isinstance(record, dict) and isinstance(record.get("instruction"), str) and (
        "output" in record or isinstance(record.get("instances"), list))


def instruction_examples(records: Iterable[dict]) -> tuple[list[Example], int]:
    """Examples from instruction records, and how many records were unusable."""
    examples, skipped = [], 0
    for record in records:
        if not is_instruction_record(record):
            skipped += 1
            continue
        instances = record.get("instances")
        pairs = instances if isinstance(instances, list) else [record]
        for pair in pairs:
            example = _example(record["instruction"], pair if isinstance(pair, dict) else {})
            if example is None:
                skipped += 1
            else:
                examples.append(example)
    return examples, skipped


def _example(instruction: str, pair: dict) -> Example | None:
    output = _text(pair.get("output"))
    if not instruction.strip() or not output:
        return None
    extra = _text(pair.get("input"))
    question = instruction.strip() + (f"\n{extra}" if extra else "")
    return Example(prompt=build_plain_prompt(question), answer=output)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
