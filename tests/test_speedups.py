"""CPU speed-ups: the output-layer subset, int8 layers, merged adapters and prompt-cache reuse."""

from __future__ import annotations

import pytest
import torch

from assistant import vocab_subset
from assistant.generation import PRESETS, Generator
from assistant.runtime import load_model
from assistant.settings import SpeedSettings
from tests.conftest import build_tokenizer

ALL_OFF = SpeedSettings(merge_adapter=False, output_subset=False, int8=False, reuse_cache=False)
GREEDY = PRESETS["answer"].with_overrides(max_new_tokens=12, repetition_penalty=1.0, stop=())

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_gemma(tmp_path_factory):
    """A tiny Gemma 3 with a 4-token sliding window on its first layer, as the bundled one has."""
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    folder = tmp_path_factory.mktemp("gemma3")
    build_tokenizer(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                              num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                              head_dim=16, sliding_window=4, max_position_embeddings=512,
                              layer_types=["sliding_attention", "full_attention"],
                              pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                              bos_token_id=tok.bos_token_id)
    Gemma3ForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    return folder


def logits(loaded, text):
    ids = loaded.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return loaded.model(input_ids=ids).logits[0, -1]


# ----- prompt cache --------------------------------------------------------------------------
def test_follow_up_reuses_the_cache_and_writes_the_same_tokens(tiny_gemma):
    plain = Generator(load_model(tiny_gemma, "g", "cpu", speed=ALL_OFF))
    reusing = Generator(load_model(tiny_gemma, "g", "cpu",
                                   speed=SpeedSettings(False, False, False, True)))
    first = "Пользователь: Москва — столица России?\nАссистент:"
    answers = [g.generate(first, GREEDY) for g in (plain, reusing)]
    assert answers[0].text == answers[1].text and answers[1].stats.reused_tokens == 0
    second = first + answers[0].text + "\nПользователь: А Петербург?\nАссистент:"
    follow = [g.generate(second, GREEDY) for g in (plain, reusing)]
    assert follow[0].text == follow[1].text
    assert follow[1].stats.reused_tokens >= reusing.count_tokens(first)
    # an unrelated prompt starts afresh, and is still right
    other = "Кошка спит на диване, а собака гуляет во дворе."
    assert reusing.generate(other, GREEDY).text == plain.generate(other, GREEDY).text


def test_cache_is_cut_back_when_the_prompt_changes_midway(tiny_gemma):
    plain = Generator(load_model(tiny_gemma, "g", "cpu", speed=ALL_OFF))
    reusing = Generator(load_model(tiny_gemma, "g", "cpu",
                                   speed=SpeedSettings(False, False, False, True)))
    shared = "Фрагменты: Москва — столица России. Петербург основан в 1703 году. "
    for question in ("Вопрос: кто основал?", "Вопрос: когда основан?"):
        prompt = shared + question + "\nОтвет:"
        assert reusing.generate(prompt, GREEDY).text == plain.generate(prompt, GREEDY).text
    assert reusing.prompt_cache.cached_tokens > 0


def test_seq2seq_models_do_not_reuse(tiny_models):
    loaded = load_model(tiny_models["t5"], "t5", "cpu", speed=SpeedSettings())
    assert Generator(loaded).prompt_cache is None and loaded.speedups == ()


# ----- output subset -------------------------------------------------------------------------
@pytest.fixture
def vocab_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(vocab_subset, "VOCAB_DIR", tmp_path / "vocab")
    return tmp_path / "vocab"


def test_subset_keeps_corpus_tokens_spelling_and_specials(tiny_models):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_models["llama"])
    ids = vocab_subset.build_subset(tok, ["Москва — столица"], latin_below=0)
    assert set(tok("Москва — столица", add_special_tokens=False)["input_ids"]) <= set(ids)
    assert set(tok.all_special_ids) <= set(ids) and len(ids) < len(tok)


def test_subset_is_found_only_for_its_own_vocabulary(tiny_models, vocab_dir, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_models["llama"])
    vocab_subset.save_subset([0, 1, 5], tok, {"test": True})
    assert vocab_subset.load_subset(tok) == [0, 1, 5]
    other = tmp_path / "other-tok"
    build_tokenizer(other)
    tok2 = AutoTokenizer.from_pretrained(other)
    tok2.add_tokens(["новыйтокен"])
    assert vocab_subset.load_subset(tok2) is None


def test_restricted_output_layer_matches_inside_and_is_minus_inf_outside(tiny_models, vocab_dir):
    full = load_model(tiny_models["llama"], "l", "cpu", speed=ALL_OFF)
    ids = sorted(set(range(0, len(full.tokenizer), 2)) | set(full.tokenizer.all_special_ids))
    vocab_subset.save_subset(ids, full.tokenizer, {})
    fast = load_model(tiny_models["llama"], "l", "cpu",
                      speed=SpeedSettings(False, True, False, False))
    assert any(s.startswith("output layer") for s in fast.speedups)
    a, b = logits(full, "Москва — столица"), logits(fast, "Москва — столица")
    inside = torch.tensor(ids)
    torch.testing.assert_close(b[inside], a[inside])
    outside = torch.ones(len(a), dtype=torch.bool)
    outside[inside] = False
    assert torch.isneginf(b[outside]).all()
    prompt = fast.tokenizer("Москва", return_tensors="pt")["input_ids"]
    for sample in (False, True):  # -inf logits survive the processors and the sampler
        out = fast.model.generate(prompt, max_new_tokens=8, do_sample=sample, min_new_tokens=8,
                                  pad_token_id=fast.tokenizer.pad_token_id)
        assert set(out[0, prompt.shape[1]:].tolist()) <= set(ids)


# ----- int8 and merging ----------------------------------------------------------------------
def test_int8_layers_keep_the_logits_close(tiny_models, vocab_dir):
    full = load_model(tiny_models["llama"], "l", "cpu", speed=ALL_OFF)
    fast = load_model(tiny_models["llama"], "l", "cpu",
                      speed=SpeedSettings(False, False, True, False))
    assert fast.speedups == ("int8 x14",)  # 2 layers x (4 attention + 3 MLP); not the head
    assert isinstance(fast.model.get_output_embeddings(), torch.nn.Linear)
    a, b = logits(full, "Кошка спит"), logits(fast, "Кошка спит")
    assert (a - b).abs().max() < 0.05 * a.abs().max()


def test_adapter_is_merged_then_quantised(tiny_models, tmp_path, vocab_dir):
    from peft import LoraConfig, get_peft_model

    base = load_model(tiny_models["llama"], "l", "cpu", speed=ALL_OFF).model
    torch.manual_seed(1)
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    attached = load_model(tiny_models["llama"], "l", "cpu", adapter=tmp_path / "adapter",
                          speed=ALL_OFF)
    merged = load_model(tiny_models["llama"], "l", "cpu", adapter=tmp_path / "adapter",
                        speed=SpeedSettings(True, False, False, False))
    assert merged.speedups == ("merged adapter",)
    torch.testing.assert_close(logits(merged, "Кошка"), logits(attached, "Кошка"),
                               atol=1e-4, rtol=1e-4)
    both = load_model(tiny_models["llama"], "l", "cpu", adapter=tmp_path / "adapter",
                      speed=SpeedSettings(True, False, True, False))
    assert both.speedups == ("merged adapter", "int8 x14")
