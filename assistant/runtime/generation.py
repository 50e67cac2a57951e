"""Streaming generation with presets (assistant.runtime.presets), stop strings and cancellation.

``model.generate`` runs on the compute thread (see assistant.runtime.compute) and hands
token ids to a queue; the caller's thread turns them into text, watches for
stop strings and can cancel at any time.  The same path serves causal and
seq2seq models.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from assistant.errors import GenerationError
from assistant.runtime import compute
from assistant.runtime.decode_loop import decode
from assistant.runtime.loading import LoadedModel
from assistant.runtime.presets import Preset
from assistant.runtime.prompt_cache import PromptCache


@dataclass
class GenerationStats:
    """Timings of one generation, for status bars and benchmarks."""

    prompt_tokens: int = 0
    new_tokens: int = 0
    first_token_s: float | None = None
    total_s: float = 0.0
    reused_tokens: int = 0  # prompt tokens whose keys/values came from the previous generation
    stopped_by: str = "eos"  # eos | stop string | max tokens | cancelled

    @property
    def decode_tokens_per_s(self) -> float:
        decode_s = self.total_s - (self.first_token_s or 0.0)
        return (self.new_tokens - 1) / decode_s if self.new_tokens > 1 and decode_s > 0 else 0.0


@dataclass
class Generation:
    """The text of one finished generation and its stats."""

    text: str
    stats: GenerationStats = field(default_factory=GenerationStats)


class Generator:
    """Generates text from prompts with a loaded model."""

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        reuse = loaded.speed.reuse_cache and not loaded.is_seq2seq
        self.prompt_cache = PromptCache() if reuse else None

    def count_tokens(self, text: str) -> int:
        return len(self.loaded.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, prompt: str, preset: Preset,
                 cancel: threading.Event | None = None) -> Generation:
        """Generate to the end and return the text."""
        stream = self.stream(prompt, preset, cancel)
        text = "".join(stream)
        return Generation(text=text, stats=stream.stats)

    def stream(self, prompt: str, preset: Preset,
               cancel: threading.Event | None = None) -> TextStream:
        """An iterator of text pieces; ``.stats`` is complete once it is exhausted."""
        return TextStream(self.loaded, prompt, preset, cancel or threading.Event(),
                          self.prompt_cache)


class TextStream:
    """Iterates over newly generated text while generate() runs in a thread."""

    def __init__(self, loaded: LoadedModel, prompt: str, preset: Preset,
                 cancel: threading.Event, prompt_cache: PromptCache | None = None):
        self.loaded = loaded
        self.prompt_cache = prompt_cache
        self.preset = preset
        self.cancel = cancel  # set by the caller to stop early
        self._halt = threading.Event()  # set by us: a stop string, or the caller left
        self.stats = GenerationStats()
        self._inputs = self._encode(prompt)
        self.stats.prompt_tokens = self._prompt_length()
        self._check_length()

    def __iter__(self) -> Iterator[str]:
        ids_queue: queue.Queue = queue.Queue()
        errors: list[BaseException] = []
        started = time.perf_counter()
        worker = compute.submit(self._run, ids_queue, errors)
        try:
            yield from self._texts(ids_queue, started)
        finally:
            self._halt.set()  # stops the worker if the caller broke off early
            worker.result()
            self.stats.total_s = time.perf_counter() - started
        if errors:
            raise GenerationError(f"generation failed: {errors[0]}") from errors[0]

    def _texts(self, ids_queue: queue.Queue, started: float) -> Iterator[str]:
        ids: list[int] = []
        shown = ""
        while (item := ids_queue.get()) is not None:
            if self.stats.first_token_s is None:
                self.stats.first_token_s = time.perf_counter() - started
            ids.extend(item)
            self.stats.new_tokens = len(ids)
            text = self._decode_ids(ids)
            if text.endswith("\ufffd"):
                continue  # a multi-byte character is split across tokens
            text, hit = _cut_at_stop(text, self.preset.stop)
            if hit:
                self.stats.stopped_by = "stop string"
                self._halt.set()
            hold = 0 if hit else _partial_stop_len(text, self.preset.stop)
            visible = text[:len(text) - hold]
            if len(visible) > len(shown):
                yield visible[len(shown):]
                shown = visible
            if hit:
                return
        tail = _cut_at_stop(self._decode_ids(ids), self.preset.stop)[0]
        if len(tail) > len(shown):
            yield tail[len(shown):]

    def _run(self, ids_queue: queue.Queue, errors: list[BaseException]) -> None:
        import torch

        try:
            with torch.inference_mode():
                if self.preset.num_beams > 1:
                    sequence = self._beam_search(ids_queue)
                elif self.loaded.decode_step is not None:
                    sequence = self._decode(ids_queue)
                else:
                    sequence = self._generate(ids_queue)
            self._record_stop_reason(len(sequence))
            if self.prompt_cache is not None:
                self.prompt_cache.remember(sequence)
        except BaseException as exc:  # surfaced in the caller's thread
            if self.prompt_cache is not None:
                self.prompt_cache.clear()
            errors.append(exc)
        finally:
            ids_queue.put(None)

    def _generate(self, ids_queue: queue.Queue) -> list[int]:
        """transformers' generate; returns the output sequence's ids."""
        output = self.loaded.model.generate(
            **self._inputs, **self._generate_kwargs(), **self._reused_cache(),
            streamer=_QueueStreamer(ids_queue),
            stopping_criteria=_halt_criteria(self.cancel, self._halt))
        return output[0].tolist()

    def _beam_search(self, ids_queue: queue.Queue) -> list[int]:
        """transformers' beam search: it cannot stream (the best beam is known only at the
        end) nor reuse a cache made for one sequence, so the whole answer comes at once."""
        if self.prompt_cache is not None:
            self.prompt_cache.clear()  # this turn's keys are not kept for the next one
        output = self.loaded.model.generate(
            **self._inputs, **self._generate_kwargs(), num_beams=self.preset.num_beams,
            stopping_criteria=_halt_criteria(self.cancel, self._halt))
        sequence = output[0].tolist()
        start = 1 if self.loaded.is_seq2seq else self.stats.prompt_tokens  # the decoder start
        ids_queue.put(sequence[start:])
        return sequence

    def _decode(self, ids_queue: queue.Queue) -> list[int]:
        """Lira's decode loop over the model's one-token step (assistant.runtime.decode_loop)."""
        from assistant.runtime.growing_cache import GrowingCache  # imports torch

        cache = self._reused_cache().get("cache")
        if cache is None:  # no reuse: a fresh cache (an empty Cache is falsy, so no `or`)
            cache = GrowingCache()
        return decode(self.loaded.model, self.loaded.decode_step, self._inputs["input_ids"],
                      cache, self.preset, lambda token: ids_queue.put([token]),
                      lambda: self.cancel.is_set() or self._halt.is_set())

    def _reused_cache(self) -> dict[str, Any]:
        """generate()'s cache: the previous generation's cache, cut to the shared prefix."""
        if self.prompt_cache is None:
            return {}
        cache, shared = self.prompt_cache.take(self._inputs["input_ids"][0].tolist())
        self.stats.reused_tokens = shared
        return {"cache": cache}  # transformers 5 renamed past_key_values

    def _record_stop_reason(self, sequence_length: int) -> None:
        if self.stats.stopped_by != "eos":
            return
        if self.cancel.is_set():
            self.stats.stopped_by = "cancelled"
            return
        new = sequence_length - (1 if self.loaded.is_seq2seq else self.stats.prompt_tokens)
        if new >= self.preset.max_new_tokens:
            self.stats.stopped_by = "max tokens"

    def _encode(self, prompt: str) -> Any:
        tokenizer = self.loaded.tokenizer
        inputs = tokenizer(prompt, return_tensors="pt")
        return {k: v.to(self.loaded.model.device) for k, v in inputs.items()
                if k in ("input_ids", "attention_mask")}

    def _prompt_length(self) -> int:
        return int(self._inputs["input_ids"].shape[1])

    def _decode_ids(self, ids: list[int]) -> str:
        """The text of the new token ids so far."""
        return self.loaded.tokenizer.decode(ids, skip_special_tokens=True)

    def _check_length(self) -> None:
        window = self.loaded.context_window
        if self.stats.prompt_tokens + self.preset.max_new_tokens > window:
            raise GenerationError(
                f"prompt of {self.stats.prompt_tokens} tokens plus {self.preset.max_new_tokens} "
                f"new ones exceeds the model's {window}-token window; ask for fewer passages (-k)")

    def _generate_kwargs(self) -> dict[str, Any]:
        p = self.preset
        tokenizer = self.loaded.tokenizer
        kwargs: dict[str, Any] = dict(max_new_tokens=p.max_new_tokens, do_sample=p.do_sample,
                                      repetition_penalty=p.repetition_penalty,
                                      no_repeat_ngram_size=p.no_repeat_ngram_size,
                                      pad_token_id=tokenizer.pad_token_id)
        if p.do_sample:
            kwargs.update(temperature=p.temperature, top_k=p.top_k, top_p=p.top_p)
        else:
            kwargs.update(temperature=None, top_k=None, top_p=None)
        return kwargs


class _QueueStreamer:
    """A transformers streamer that forwards token ids to a queue."""

    def __init__(self, ids_queue: queue.Queue):
        self.queue = ids_queue
        # generate() first puts its starting ids: the prompt of a causal model,
        # the decoder start token of a seq2seq one.  Neither is new text.
        self.skip_first = True

    def put(self, value: Any) -> None:
        if self.skip_first:
            self.skip_first = False
            return
        self.queue.put(value.reshape(-1).tolist())

    def end(self) -> None:
        pass

    def __deepcopy__(self, memo: dict) -> _QueueStreamer:
        # peft deep-copies generate() kwargs for seq2seq prompt tuning; the copy
        # must still feed our queue.
        return self


def _halt_criteria(*events: threading.Event) -> Any:
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Halt(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):  # noqa: ANN001 - transformers API
            import torch

            halted = any(event.is_set() for event in events)
            return torch.full((input_ids.shape[0],), halted, dtype=torch.bool,
                              device=input_ids.device)

        def __deepcopy__(self, memo: dict) -> _Halt:
            return self  # must keep watching the same events (see _QueueStreamer)

    return StoppingCriteriaList([_Halt()])


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    cut = min((i for s in stops if (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _partial_stop_len(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest end of ``text`` that could begin a stop string."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), best, -1):
            if stop.startswith(text[-n:]):
                best = n
                break
    return best
