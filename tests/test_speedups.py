"""CPU speed-ups: the output-layer subset, int8 layers, merged adapters and prompt-cache reuse."""

from __future__ import annotations

import pytest
import torch

from assistant.runtime.cpu import vocab_subset
from assistant.runtime.generation import PRESETS, Generator
from assistant.runtime.loading import load_model
from assistant.settings import SpeedSettings
from tests.conftest import build_tokenizer

ALL_OFF = SpeedSettings.off()
GREEDY = PRESETS["answer"].with_overrides(max_new_tokens=12, repetition_penalty=1.0, stop=())

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def logits(loaded, text):
    ids = loaded.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return loaded.model(input_ids=ids).logits[0, -1]


# ----- prompt cache --------------------------------------------------------------------------
def test_follow_up_reuses_the_cache_and_writes_the_same_tokens(tiny_gemma):
    plain = Generator(load_model(tiny_gemma, "g", "cpu", speed=ALL_OFF))
    reusing = Generator(load_model(tiny_gemma, "g", "cpu",
                                   speed=SpeedSettings.off(reuse_cache=True)))
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
                                   speed=SpeedSettings.off(reuse_cache=True)))
    shared = "Фрагменты: Москва — столица России. Петербург основан в 1703 году. "
    for question in ("Вопрос: кто основал?", "Вопрос: когда основан?"):
        prompt = shared + question + "\nОтвет:"
        assert reusing.generate(prompt, GREEDY).text == plain.generate(prompt, GREEDY).text
    assert reusing.prompt_cache.cached_tokens > 0


def test_growing_cache_matches_concatenation_across_reallocation_and_crop(monkeypatch):
    from transformers.cache_utils import DynamicLayer

    from assistant.runtime import growing_cache

    monkeypatch.setattr(growing_cache, "SPARE_TOKENS", 2)
    growing, plain = growing_cache.GrowingLayer(), DynamicLayer()
    torch.manual_seed(0)
    for step, tokens in enumerate((5, 1, 1, 1, 1, 1, 1, 1, 3)):  # room runs out twice
        if step == 6:
            growing.crop(-4)
            plain.crop(-4)
        k, v = torch.randn(1, 2, tokens, 4), torch.randn(1, 2, tokens, 4)
        got, want = growing.update(k, v), plain.update(k, v)
        torch.testing.assert_close(got[0], want[0])
        torch.testing.assert_close(got[1], want[1])
    assert growing.get_seq_length() == plain.get_seq_length() == 11
    assert growing.keys.data_ptr() == growing._key_buffer.data_ptr()  # a view, not a copy


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
                      speed=SpeedSettings.off(output_subset=True))
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


def test_int8_output_rows_keep_the_best_logits_exact(tiny_models, vocab_dir, monkeypatch):
    from assistant.runtime.cpu import restricted_head

    monkeypatch.setattr(restricted_head, "_ROWS_AT_ONCE", 3)  # several blocks of positions
    full = load_model(tiny_models["llama"], "l", "cpu", speed=ALL_OFF)
    ids = sorted(set(range(0, len(full.tokenizer), 2)) | set(full.tokenizer.all_special_ids))
    vocab_subset.save_subset(ids, full.tokenizer, {})
    fast = load_model(tiny_models["llama"], "l", "cpu",
                      speed=SpeedSettings.off(output_subset=True, output_int8=True))
    assert any(s.endswith("int8") for s in fast.speedups)
    assert len(ids) > 2 * restricted_head.RESCORED
    prompt = fast.tokenizer("Москва — столица России, а Петербург", return_tensors="pt")
    with torch.inference_mode():
        a = full.model(**prompt).logits[0]
        b = fast.model(**prompt).logits[0]
    inside = torch.tensor(ids)
    assert torch.isneginf(b[:, [i for i in range(a.shape[1]) if i not in set(ids)]]).all()
    for exact, approx in zip(a[:, inside], b[:, inside]):  # every position of the prompt
        best = exact.topk(restricted_head.RESCORED // 2).indices
        torch.testing.assert_close(approx[best], exact[best])  # the top is float32's own
        assert (approx - exact).abs().max() < 0.05 * exact.abs().max()
        assert int(approx.argmax()) == int(exact.argmax())


def test_int8_rows_are_read_from_the_file_only_while_it_holds_the_weight(tiny_models, tmp_path):
    from assistant.runtime.cpu.file_rows import row_reader

    head = load_model(tiny_models["llama"], "l", "cpu",
                      speed=ALL_OFF).model.get_output_embeddings().weight
    reader = row_reader(tiny_models["llama"], head)
    index = torch.tensor([7, 3, 3, 8, 9, head.shape[0] - 1])  # any order, repeats, runs
    assert reader is not None and torch.equal(reader(index), head.detach()[index])
    cut = tmp_path / "cut"  # a file that ends inside the head's last row is not read from
    cut.mkdir()
    data = next(tiny_models["llama"].glob("*.safetensors")).read_bytes()
    end = reader.offset + reader.rows * reader.row_bytes
    (cut / "model.safetensors").write_bytes(data[:end - 4])
    assert row_reader(cut, head) is None
    with torch.no_grad():
        head.mul_(1.01)  # as an adapter merged into the output layer would change it
    assert row_reader(tiny_models["llama"], head) is None


def test_an_adapter_on_the_embeddings_keeps_the_file_out(tiny_models):
    from peft import LoraConfig, get_peft_model

    from assistant.runtime.cpu import speedups

    base = load_model(tiny_models["llama"], "l", "cpu", speed=ALL_OFF).model
    wrapped = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "embed_tokens"]))
    assert speedups._adapter_touches_embeddings(wrapped)
    base = load_model(tiny_models["llama"], "l", "cpu", speed=ALL_OFF).model
    plain = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    assert not speedups._adapter_touches_embeddings(plain)


# ----- int8 and merging ----------------------------------------------------------------------
def test_int8_layers_keep_the_logits_close(tiny_models, vocab_dir):
    full = load_model(tiny_models["llama"], "l", "cpu", speed=ALL_OFF)
    fast = load_model(tiny_models["llama"], "l", "cpu",
                      speed=SpeedSettings.off(int8=True))
    assert fast.speedups == ("int8 x12",)  # 2 layers x (4 attention + gate, up); not down, head
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
                        speed=SpeedSettings.off(merge_adapter=True))
    assert merged.speedups == ("merged adapter",)
    torch.testing.assert_close(logits(merged, "Кошка"), logits(attached, "Кошка"),
                               atol=1e-4, rtol=1e-4)
    both = load_model(tiny_models["llama"], "l", "cpu", adapter=tmp_path / "adapter",
                      speed=SpeedSettings.off(merge_adapter=True, int8=True))
    assert both.speedups == ("merged adapter", "int8 x12")


# ----- smoothed int8 -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["gemma", "llama"])
def test_smoothing_leaves_the_float_model_unchanged(kind, tiny_gemma, tiny_models):
    from assistant.runtime.cpu.int8_layers import smooth_decoder

    folder = tiny_gemma if kind == "gemma" else tiny_models["llama"]
    plain = load_model(folder, kind, "cpu", speed=ALL_OFF)
    smoothed = load_model(folder, kind, "cpu", speed=ALL_OFF)
    norm = smoothed.model.model.layers[0].input_layernorm.weight.clone()
    assert len(smooth_decoder(smoothed.model, smoothed.tokenizer)) == 2
    assert not torch.equal(norm, smoothed.model.model.layers[0].input_layernorm.weight)
    text = "Кошка спит на диване, а собака во дворе."
    torch.testing.assert_close(logits(smoothed, text), logits(plain, text), atol=1e-4, rtol=1e-4)


def test_smoothed_int8_tames_an_outlier_channel(tiny_gemma):
    """One activation channel 40x the rest (as real LLMs have): smoothing halves the error."""
    from assistant.runtime.cpu.int8_layers import Int8Linear, quantize_decoder

    def with_outlier():
        loaded = load_model(tiny_gemma, "g", "cpu", speed=ALL_OFF)
        with torch.no_grad():
            for layer in loaded.model.model.layers:
                layer.input_layernorm.weight[3] = 40.0
                layer.pre_feedforward_layernorm.weight[5] = 40.0
        return loaded

    reference, smoothed, naive = with_outlier(), with_outlier(), with_outlier()
    assert quantize_decoder(smoothed.model, smoothed.tokenizer) == 12  # 2 x 6; not down_proj
    for layer in naive.model.model.layers:  # the same int8 layers, without smoothing
        for parent, names in ((layer.self_attn, ("q_proj", "k_proj", "v_proj", "o_proj")),
                              (layer.mlp, ("gate_proj", "up_proj"))):
            for name in names:
                setattr(parent, name, Int8Linear(getattr(parent, name)))
    assert isinstance(smoothed.model.model.layers[0].mlp.down_proj, torch.nn.Linear)
    text = "Москва — столица России, а Петербург основан в 1703 году."
    want = logits(reference, text)
    smooth_error = (logits(smoothed, text) - want).abs().max()
    naive_error = (logits(naive, text) - want).abs().max()
    assert smooth_error < 0.7 * naive_error  # 0.44 of it when measured


def test_int8_is_skipped_for_a_decoder_it_cannot_smooth(tiny_models):
    loaded = load_model(tiny_models["gpt2"], "g", "cpu", speed=SpeedSettings.off(int8=True))
    assert not any(s.startswith("int8") for s in loaded.speedups)
