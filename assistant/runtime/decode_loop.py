"""Lira's own decode loop, for models with a one-token step (assistant.runtime.cpu.gemma_step).

``model.generate`` re-prepares inputs, masks and cache bookkeeping at every
token; with a lean step that overhead would be a large share of a decode step.
This loop does what generate does for one sequence: the prompt through the
model (after any reused prefix, PREFILL_CHUNK tokens a pass), then for each
token the same logits processors in the same order (repetition penalty,
no-repeat n-grams, then temperature, top-k, top-p when sampling), argmax or
one multinomial draw, and a stop at an end-of-sequence id, at
``max_new_tokens`` or when ``halted()`` says so.  Sequences, streamed tokens and cache contents are
what generate would give, so Generator can use either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.runtime.presets import Preset

# Prompt tokens per forward pass: activations (attention scores above all) grow with the
# chunk times the prompt.  On a 1,017-token prompt of the bundled model 512 took the same
# time as one pass (1.05 s) and 256 was 7% slower.
PREFILL_CHUNK = 512


def logits_processors(preset: Preset) -> Any:
    """The processors generate() would build for a preset, in generate()'s order."""
    from transformers import (
        LogitsProcessorList,
        NoRepeatNGramLogitsProcessor,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    processors = LogitsProcessorList()
    if preset.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(preset.repetition_penalty))
    if preset.no_repeat_ngram_size > 0:
        processors.append(NoRepeatNGramLogitsProcessor(preset.no_repeat_ngram_size))
    if preset.do_sample:
        if preset.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(preset.temperature))
        if preset.top_k:
            processors.append(TopKLogitsWarper(top_k=preset.top_k))
        if preset.top_p < 1.0:
            processors.append(TopPLogitsWarper(top_p=preset.top_p))
    return processors


def end_ids(model: Any) -> set[int]:
    """The model's end-of-sequence ids (generation config first, as generate reads them)."""
    for config in (getattr(model, "generation_config", None), model.config):
        value = getattr(config, "eos_token_id", None)
        if value is not None:
            return set(value) if isinstance(value, (list, tuple)) else {int(value)}
    return set()


def decode(model: Any, step: Callable[[int, Any], Any], prompt_ids: Any, cache: Any,
           preset: Preset, emit: Callable[[int], None],
           halted: Callable[[], bool]) -> list[int]:
    """Generate after ``prompt_ids`` (1 x n); returns prompt + new ids.

    ``cache`` may already hold a prefix of the prompt (see PromptCache); the
    rest goes through ``model``, every new token through ``step``.
    ``emit`` gets each new id as soon as it is chosen.
    """
    import torch

    held = cache.get_seq_length()
    total = prompt_ids.shape[1]
    sequence = torch.empty((1, total + preset.max_new_tokens), dtype=torch.long,
                           device=prompt_ids.device)
    sequence[:, :total] = prompt_ids
    logits = _prefill(model, prompt_ids[:, held:], cache)
    processors = logits_processors(preset)
    stops = end_ids(model)
    for made in range(preset.max_new_tokens):
        token = _choose(processors(sequence[:, :total], logits.float()), preset.do_sample)
        sequence[0, total] = token
        total += 1
        emit(token)
        if token in stops or made + 1 == preset.max_new_tokens or halted():
            break
        logits = step(token, cache)
    return sequence[0, :total].tolist()


def _prefill(model: Any, ids: Any, cache: Any) -> Any:
    """The prompt's tokens through the model a chunk at a time; the last one's logits."""
    for start in range(0, ids.shape[1], PREFILL_CHUNK):
        output = model(input_ids=ids[:, start:start + PREFILL_CHUNK], cache=cache,
                       use_cache=True, logits_to_keep=1)
    return output.logits[:, -1, :]


def _choose(scores: Any, sample: bool) -> int:
    import torch

    if sample:
        return int(torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1)[0, 0])
    return int(torch.argmax(scores, dim=-1)[0])
