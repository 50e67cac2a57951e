"""Generation on llama.cpp (through llama-cpp-python): GGUF models at llama.cpp's speed.

A LlamaGenerator has the parts of Generator the engine and the front ends use:
``loaded`` (a GgufModel: name, adapter, device, context_window, describe; no
torch model or tokenizer, so what needs weights, the poem fluency score, does
without as for a model on a server), ``count_tokens``, ``stream`` and
``generate``.  Streams are TextStreams whose worker runs llama.cpp's token loop
on the compute thread, so stop strings, cancel and the stats behave as for
transformers.  llama.cpp keeps the previous prompt's keys and values and
re-reads only what changed, so a follow-up starts at once.

The binding is optional: ``llama_available`` says whether it is installed,
and every failure to load a file is one line naming it.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import GenerationError, ModelLoadError
from assistant.runtime import llama_scores
from assistant.runtime.generation import Generation, TextStream
from assistant.runtime.presets import Preset
from index.llama_binding import (  # noqa: F401 - llama_available is this module's API too
    cpu_threads,
    llama_available,
    looks_like_gguf,
    one_line,
    quiet_plain_load,
)

INSTALL_HINT = ("pip install llama-cpp-python (it builds llama.cpp from source: about 7 "
                "minutes on 2 cores)")
MAX_WINDOW = 8192  # the context Lira asks for at most: RAG prompts are ~1-2k tokens


@dataclass
class GgufModel:
    """What a LoadedModel tells about itself, for a GGUF file on llama.cpp."""

    name: str
    path: Path
    llama: Any  # llama_cpp.Llama
    context_window: int
    quantization: str
    adapter: str | None = None  # a LoRA GGUF applied on top, or None
    model: None = None  # no torch weights: what needs them (poem fluency) does without
    tokenizer: None = None
    is_seq2seq: bool = False
    device: str = "cpu (llama.cpp)"
    # tokens never written: the shipped Russian vocabulary subset of the model's vocabulary
    # (assistant.runtime.cpu.vocab_subset), which the transformers path samples within too
    outside: Any = None

    def describe(self) -> str:
        adapter = Path(self.adapter).name if self.adapter else "no adapter"
        return f"{self.name} + {adapter} ({self.device}, {self.quantization})"


def load_gguf(path: Path, name: str, lora: Path | None = None,
              threads: int | None = None) -> GgufModel:
    """Load the GGUF file at ``path`` (with a LoRA GGUF ``lora`` on top) on llama.cpp;
    a file llama.cpp cannot load is one line naming it."""
    if not llama_available():
        raise ModelLoadError(f"{name} is a GGUF model and the llama.cpp engine is not "
                             f"installed: {INSTALL_HINT}")
    from llama_cpp import Llama

    if not looks_like_gguf(path):
        raise ModelLoadError(f"{path} is not a GGUF file: download or convert it again")
    try:
        with quiet_plain_load():
            threads = threads or cpu_threads()
            llama = Llama(model_path=str(path), n_ctx=MAX_WINDOW, n_threads=threads,
                          n_threads_batch=threads, lora_path=str(lora) if lora else None,
                          verbose=False,
                          # the whole window may repeat-penalise, as transformers does
                          last_n_tokens_size=MAX_WINDOW, swa_full=True)
    except (ValueError, RuntimeError, OSError) as exc:
        what = f"{path} with the LoRA {lora}" if lora else str(path)
        raise ModelLoadError(f"llama.cpp could not load {what} ({one_line(exc)}): check that "
                             "the file is a whole GGUF of an architecture llama.cpp knows, and "
                             "that a LoRA was made for this base") from None
    window = min(llama._model.n_ctx_train() or MAX_WINDOW, MAX_WINDOW)  # noqa: SLF001
    loaded = GgufModel(name, path, llama, window, _file_type(llama), str(lora) if lora else None)
    loaded.outside = _outside_subset(loaded)
    return loaded


def _outside_subset(loaded: GgufModel) -> Any:
    """A mask of the tokens outside the shipped vocabulary subset for this model's
    vocabulary (None: none is shipped for it).  llama.cpp spells a run of spaces as
    spaces where transformers' tokenizer writes SentencePiece's mark, so the pieces are
    read as transformers reads them before the vocabulary is matched."""
    import numpy as np

    from assistant.runtime.cpu.vocab_subset import pieces_digest, subset_for_digest

    pieces = [piece.replace(" ", "\u2581") for piece in llama_scores.pieces(loaded)]
    ids = subset_for_digest(pieces_digest(pieces))
    if ids is None:
        return None
    outside = np.ones(len(pieces), dtype=bool)
    outside[ids] = False
    return outside


class LlamaGenerator:
    """Generates text from prompts with a GGUF model on llama.cpp."""

    def __init__(self, loaded: GgufModel):
        self.loaded = loaded

    def count_tokens(self, text: str) -> int:
        return len(self.loaded.llama.tokenize(text.encode("utf-8"), add_bos=False,
                                              special=False))

    def generate(self, prompt: str, preset: Preset,
                 cancel: threading.Event | None = None) -> Generation:
        """Generate to the end and return the text."""
        stream = self.stream(prompt, preset, cancel)
        return Generation(text="".join(stream), stats=stream.stats)

    def stream(self, prompt: str, preset: Preset,
               cancel: threading.Event | None = None) -> LlamaStream:
        """An iterator of text pieces; ``.stats`` is complete once it is exhausted."""
        if preset.num_beams > 1:
            raise GenerationError("beam search is not available on the llama.cpp engine: "
                                  "use --beams 1, or engine = \"transformers\"")
        return LlamaStream(self.loaded, prompt, preset, cancel or threading.Event())


class LlamaStream(TextStream):
    """A TextStream whose worker is llama.cpp's token loop."""

    def _encode(self, prompt: str) -> list[int]:
        return self.loaded.llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)

    def _prompt_length(self) -> int:
        return len(self._inputs)

    def _decode_ids(self, ids: list[int]) -> str:
        return self.loaded.llama.detokenize(ids).decode("utf-8", errors="replace")

    def _run(self, ids_queue, errors: list[BaseException]) -> None:
        try:
            self._loop(ids_queue)
        except BaseException as exc:  # surfaced in the caller's thread
            errors.append(exc)
        finally:
            ids_queue.put(None)

    def _loop(self, ids_queue) -> None:
        import llama_cpp

        llama, preset = self.loaded.llama, self.preset
        self.stats.reused_tokens = llama_scores.held_prefix(llama, self._inputs)
        if preset.do_sample:  # drawn from Python's generator: seeding it (evals do) repeats a poem
            llama.set_seed(random.getrandbits(32))
        vocab = llama._model.vocab  # noqa: SLF001 - the binding's own handle, no public one
        new = 0
        for token in llama.generate(self._inputs, **_sampling(preset),
                                    logits_processor=sampling_processors(preset, self.loaded.outside)):
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                return
            ids_queue.put([token])
            new += 1
            if self.cancel.is_set() or self._halt.is_set():
                self.stats.stopped_by = "cancelled" if self.cancel.is_set() else "stop string"
                return
            if new >= preset.max_new_tokens:
                self.stats.stopped_by = "max tokens"
                return


def _sampling(preset: Preset) -> dict[str, Any]:
    """llama.cpp's sampler settings for a preset (temperature 0: greedy).  The repetition
    penalty and the temperature are left to ``sampling_processors``: llama.cpp's own penalty sees
    only the generated tokens and its temperature comes after top-p, and either gives other
    text than the transformers path the presets were tuned on."""
    if not preset.do_sample:
        return dict(temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0)
    return dict(temp=1.0, top_k=preset.top_k, top_p=preset.top_p, min_p=0.0, repeat_penalty=1.0)


def sampling_processors(preset: Preset, outside: Any = None) -> Any:
    """The logits processors that make llama.cpp's sampling the transformers path's (None:
    none needed): no token ``outside`` the vocabulary subset (a mask, or None); the
    repetition penalty over the whole sequence, prompt included; no repeated n-grams; the
    temperature before top-k and top-p."""
    steps = []
    if outside is not None:
        steps.append(_never(outside))
    if preset.repetition_penalty != 1.0:
        steps.append(_repetition_penalty(preset.repetition_penalty))
    if preset.no_repeat_ngram_size > 0:
        steps.append(_no_repeat(preset.no_repeat_ngram_size))
    if preset.do_sample and preset.temperature not in (0.0, 1.0):
        steps.append(lambda input_ids, scores: scores / preset.temperature)
    if not steps:
        return None
    from llama_cpp import LogitsProcessorList

    return LogitsProcessorList(steps)


def _never(outside: Any) -> Any:
    def forbid(input_ids, scores):  # noqa: ANN001 - the binding's numpy arrays
        scores[outside] = -float("inf")
        return scores

    return forbid


def _repetition_penalty(penalty: float) -> Any:
    """transformers' repetition penalty: every token already in the sequence has its logit
    divided by ``penalty`` (multiplied, when negative)."""
    import numpy as np

    def penalise(input_ids, scores):  # noqa: ANN001 - the binding's numpy arrays
        seen = np.unique(input_ids)
        picked = scores[seen]
        scores[seen] = np.where(picked < 0, picked * penalty, picked / penalty)
        return scores

    return penalise


def _no_repeat(size: int) -> Any:
    """Forbid repeating any ``size``-gram, as transformers' no_repeat_ngram_size does over the
    whole sequence."""
    def forbid(input_ids, scores):  # noqa: ANN001 - the binding's numpy arrays
        ids = input_ids.tolist()
        if len(ids) < size:
            return scores
        tail = tuple(ids[len(ids) - size + 1:])
        for start in range(len(ids) - size + 1):
            if tuple(ids[start:start + size - 1]) == tail:
                scores[ids[start + size - 1]] = -float("inf")
        return scores

    return forbid


def _file_type(llama: Any) -> str:
    description = llama.metadata.get("general.file_type", "")
    names = {"0": "f32", "1": "f16", "7": "q8_0", "15": "q4_k_m", "17": "q5_k_m", "18": "q6_k",
             "2": "q4_0", "32": "bf16"}
    return names.get(str(description), "gguf")


