"""Lira's one-token Gemma 3 step and its decode loop against transformers."""

from __future__ import annotations

import pytest
import torch

from assistant.runtime.cpu.gemma_step import GemmaStep
from assistant.runtime.decode_loop import decode
from assistant.runtime.generation import Generator
from assistant.runtime.growing_cache import GrowingCache
from assistant.runtime.loading import load_model
from assistant.runtime.presets import PRESETS, Preset
from assistant.settings import SpeedSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LEAN = SpeedSettings.off(lean_decode=True)
PLAIN = SpeedSettings.off()
PROMPT = "Фрагменты: Москва — столица России. Петербург основан в 1703 году.\nВопрос: когда?"


def test_step_logits_match_the_model_past_the_sliding_window(tiny_gemma):
    loaded = load_model(tiny_gemma, "g", "cpu", speed=LEAN)
    model, step = loaded.model, loaded.decode_step
    assert isinstance(step, GemmaStep) and "lean decode" in loaded.speedups
    ids = loaded.tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    assert ids.shape[1] > 2 * model.config.sliding_window
    caches = [GrowingCache(), GrowingCache()]
    with torch.inference_mode():
        for cache in caches:
            model(input_ids=ids, cache=cache, use_cache=True)
        for token in ids[0, :12].tolist():  # twelve more steps, each past the window
            expected = model(input_ids=torch.tensor([[token]]), cache=caches[0],
                             use_cache=True).logits[0, -1]
            got = step(token, caches[1])[0]
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert caches[0].get_seq_length() == caches[1].get_seq_length() == ids.shape[1] + 12


def test_step_reads_the_modules_own_weights_so_memory_is_not_doubled(tiny_gemma):
    loaded = load_model(tiny_gemma, "g", "cpu", speed=LEAN)
    attn = loaded.model.model.layers[0].self_attn
    layer = loaded.decode_step.layers[0]
    assert layer.q.data_ptr() == attn.q_proj.weight.data_ptr()
    assert layer.v.data_ptr() == attn.v_proj.weight.data_ptr()


@pytest.mark.parametrize("preset", [
    PRESETS["answer"].with_overrides(max_new_tokens=20, stop=()),  # greedy, repetition penalty
    PRESETS["answer"].with_overrides(max_new_tokens=20, stop=(), no_repeat_ngram_size=2),
    PRESETS["poem"].with_overrides(max_new_tokens=20, stop=()),  # sampling
])
def test_generator_writes_what_generate_writes(tiny_gemma, preset):
    texts, stops = [], []
    for speed in (PLAIN, LEAN):
        generator = Generator(load_model(tiny_gemma, "g", "cpu", speed=speed))
        torch.manual_seed(7)
        result = generator.generate(PROMPT, preset)
        texts.append(result.text)
        stops.append((result.stats.new_tokens, result.stats.stopped_by))
    assert texts[0] == texts[1] and texts[0].strip()
    assert stops[0] == stops[1]


def test_follow_up_with_reuse_matches_generate(tiny_gemma):
    plain = Generator(load_model(tiny_gemma, "g", "cpu", speed=PLAIN))
    lean = Generator(load_model(tiny_gemma, "g", "cpu",
                                speed=SpeedSettings.off(lean_decode=True, reuse_cache=True)))
    preset = PRESETS["chat"].with_overrides(max_new_tokens=10, stop=())
    first = [g.generate(PROMPT, preset) for g in (plain, lean)]
    follow_up = PROMPT + first[0].text + "\nВопрос: а Москва?"
    second = [g.generate(follow_up, preset) for g in (plain, lean)]
    assert first[0].text == first[1].text and second[0].text == second[1].text
    assert second[1].stats.reused_tokens >= lean.count_tokens(PROMPT)


def test_loop_stops_at_end_of_sequence_and_when_halted(tiny_gemma):
    loaded = load_model(tiny_gemma, "g", "cpu", speed=LEAN)
    ids = loaded.tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    emitted: list[int] = []
    with torch.inference_mode():
        out = decode(loaded.model, loaded.decode_step, ids, GrowingCache(), Preset(max_new_tokens=30),
                     emitted.append, halted=lambda: len(emitted) >= 3)
    assert len(emitted) == 3 and out == ids[0].tolist() + emitted
    first = emitted[0]
    loaded.model.generation_config.eos_token_id = first  # the first token now ends it
    emitted.clear()
    with torch.inference_mode():
        decode(loaded.model, loaded.decode_step, ids, GrowingCache(), Preset(max_new_tokens=30),
               emitted.append, halted=lambda: False)
    assert emitted == [first]


def test_other_architectures_keep_generate(tiny_models):
    loaded = load_model(tiny_models["gpt2"], "g", "cpu", speed=LEAN)
    assert loaded.decode_step is None and "lean decode" not in loaded.speedups
    text = Generator(loaded).generate("Москва", PRESETS["chat"].with_overrides(max_new_tokens=4))
    assert text.stats.new_tokens > 0
