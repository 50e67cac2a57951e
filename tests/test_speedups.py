"""CPU speed-ups: the output-layer subset, int8 layers, merged adapters and prompt-cache reuse."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from assistant.runtime.cpu import vocab_subset
from assistant.runtime.generation import Generator
from assistant.runtime.loading import load_model
from assistant.runtime.presets import PRESETS
from assistant.settings import SpeedSettings
from tests.conftest import REPO, build_tokenizer

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


def _int8_rows_run(tiny_models, monkeypatch):
    """The float32 model's and the int8-rows model's logits over one prompt, with the subset's
    ids, the hidden states the int8 head was given and the float32 rows of the subset."""
    from assistant.runtime.cpu import restricted_head

    monkeypatch.setattr(restricted_head, "_ROWS_AT_ONCE", 3)  # several blocks of positions
    full = load_model(tiny_models["llama"], "l", "cpu", speed=ALL_OFF)
    ids = sorted(set(range(0, len(full.tokenizer), 2)) | set(full.tokenizer.all_special_ids))
    vocab_subset.save_subset(ids, full.tokenizer, {})
    fast = load_model(tiny_models["llama"], "l", "cpu",
                      speed=SpeedSettings.off(output_subset=True, output_int8=True))
    assert any(s.endswith("int8") for s in fast.speedups)
    assert len(ids) > 2 * restricted_head.RESCORED
    seen = []
    fast.model.get_output_embeddings().register_forward_hook(
        lambda _module, inputs, _output: seen.append(inputs[0].detach()))
    prompt = fast.tokenizer("Москва — столица России, а Петербург", return_tensors="pt")
    with torch.inference_mode():
        a = full.model(**prompt).logits[0]
        b = fast.model(**prompt).logits[0]
    inside = torch.tensor(ids)
    outside = torch.ones(a.shape[1], dtype=torch.bool)
    outside[inside] = False
    assert torch.isneginf(b[:, outside]).all()
    rows = full.model.get_output_embeddings().weight.detach()[inside].float()
    return a[:, inside], b[:, inside], inside, seen[0].reshape(-1, rows.shape[1]).float(), rows


def _dot_rounding(x, rows):
    """How far a float32 dot product of x and a row can be from the real one: gamma_n times
    sum |x_i w_i| (Higham, Accuracy and Stability of Numerical Algorithms, 3.1), whatever
    the order of summation, FMA or SIMD width, so on every CPU."""
    n = rows.shape[1] + 2  # + the final rounding of a scaled result
    u = 2.0 ** -24
    return n * u / (1 - n * u) * (x.abs().double() @ rows.abs().double().T)


def test_int8_output_rows_keep_the_best_logits_exact(tiny_models, vocab_dir, monkeypatch):
    """The int8 logits' RESCORED best at each position are float32's own, from the right rows;
    the others are the int8 kernel's.  Checked against this CPU's kernel run on its own, so
    it holds whatever that kernel's precision (fbgemm and oneDNN, with or without VNNI)."""
    from assistant.runtime.cpu import restricted_head
    from assistant.runtime.cpu.int8_layers import int8_matmul, pack_int8_rows

    exact, approx, inside, hidden, rows = _int8_rows_run(tiny_models, monkeypatch)
    # The same kernel on the same rows and the same batch of positions (its activation scale
    # is per batch) gives the int8 logits the head started from, bit for bit.
    int8 = int8_matmul(hidden, pack_int8_rows(lambda index: rows[index],
                                              torch.arange(len(inside)), rows.shape[1]))
    rescored = torch.zeros_like(int8, dtype=torch.bool)
    rescored.scatter_(1, int8.topk(restricted_head.RESCORED, dim=1).indices, True)
    assert torch.equal(approx[~rescored], int8[~rescored])
    # Two float32 dot products of the same vectors: each within _dot_rounding of the real one.
    assert ((approx - exact).abs()[rescored] <= 2 * _dot_rounding(hidden, rows)[rescored]).all()


def test_int8_output_rows_are_within_the_quantisation_step(tiny_models, vocab_dir, monkeypatch):
    """The int8 logits are within what int8 quantisation allows of float32's, so the logits
    that are surely among the int8 best are float32's exactly.

    The rows are symmetric per-row int8 (int8_layers.pack_int8_rows): w = s_w q + e_w with
    s_w = max|w| / 127 and |e_w| <= s_w / 2.  The activations are quantised per batch on the
    fly to 8 bits: fbgemm uses uint8 over [min(x, 0), max(x, 0)], a step of at most
    2 max|x| / 255; a symmetric int8 kernel would use max|x| / 127; s_x = max|x| / 127 covers
    both, with |e_x| <= s_x / 2.  The integer products are summed exactly in int32, so
    |x.w - int8| <= sum |e_w x_i| + |w_i e_x| + |e_x e_w|
                 <= s_w / 2 * sum|x_i| + s_x / 2 * sum|w_i| + n s_x s_w / 4,
    plus float32 rounding of the scaled sum and of the reference (_dot_rounding).
    """
    from assistant.runtime.cpu import restricted_head
    from assistant.runtime.cpu.int8_layers import kernel_saturates

    exact, approx, inside, hidden, rows = _int8_rows_run(tiny_models, monkeypatch)
    real = hidden.double() @ rows.double().T
    rounding = _dot_rounding(hidden, rows)
    assert ((exact - real).abs() <= rounding).all()  # the head saw the float model's hidden state
    s_w = rows.abs().amax(dim=1).double() / 127
    s_x = hidden.abs().max().double() / (63.5 if kernel_saturates() else 127)
    step = (s_w / 2 * hidden.abs().sum(dim=1, keepdim=True).double()
            + s_x / 2 * rows.abs().sum(dim=1).double() + rows.shape[1] * s_x * s_w / 4)
    bound = step * (1 + 2 ** -20) + rounding  # the kernel's float32 scaling rounds too
    within = (approx - real).abs() <= bound
    assert within.all(), float(((approx - real).abs() / bound).max())
    # A logit is surely among the int8 RESCORED best when fewer than RESCORED others can
    # reach it within the bound; those are rescored, so float32's to rounding.
    low, high = real - bound, real + bound
    rivals = (high[:, None, :] >= low[:, :, None]).sum(dim=2) - 1
    surely = rivals < restricted_head.RESCORED
    assert (surely.sum(dim=1) >= restricted_head.RESCORED // 2).all()  # the check has teeth
    assert ((approx - real).abs()[surely] <= rounding[surely]).all()


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
NO_INT8_LAYERS = ("this CPU's int8 kernel needs 7-bit activations (no VNNI), where the smoothing "
                  "does not pay and speed_up leaves the layers in float32 "
                  "(test_int8_layers_are_left_out_where_the_kernel_saturates)")


def test_int8_layers_keep_the_logits_close(tiny_models, vocab_dir):
    from assistant.runtime.cpu.int8_layers import kernel_saturates

    if kernel_saturates():
        pytest.skip(NO_INT8_LAYERS)
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
    from assistant.runtime.cpu.int8_layers import kernel_saturates

    assert both.speedups == ("merged adapter",) + (() if kernel_saturates() else ("int8 x12",))


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
    from assistant.runtime.cpu.int8_layers import Int8Linear, kernel_saturates, quantize_decoder

    if kernel_saturates():
        pytest.skip(NO_INT8_LAYERS)

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


def test_int8_layers_are_left_out_where_the_kernel_saturates(tiny_gemma, monkeypatch):
    from assistant.runtime.cpu import int8_layers

    settings = SpeedSettings.off(int8=True)
    assert any(s.startswith("int8") for s in load_model(tiny_gemma, "g", "cpu",
                                                        speed=settings).speedups) \
        or int8_layers.kernel_saturates()
    monkeypatch.setattr(int8_layers, "kernel_saturates", lambda: True)
    loaded = load_model(tiny_gemma, "g", "cpu", speed=settings)
    assert not any(s.startswith("int8") for s in loaded.speedups)
    assert isinstance(loaded.model.model.layers[0].self_attn.q_proj, torch.nn.Linear)


def test_int8_is_skipped_for_a_decoder_it_cannot_smooth(tiny_models):
    loaded = load_model(tiny_models["gpt2"], "g", "cpu", speed=SpeedSettings.off(int8=True))
    assert not any(s.startswith("int8") for s in loaded.speedups)


def test_int8_activations_fit_a_kernel_without_vnni():
    """With the kernels a CPU without VNNI runs (forced here: fbgemm and oneDNN at AVX2),
    8-bit activations overflow their int16 pair sums; int8_matmul notices and uses 7 bits,
    so an all-ones product is exact again."""
    probe = ("import torch\n"
             "from assistant.runtime.cpu.int8_layers import int8_matmul, kernel_saturates, "
             "pack_int8_rows\n"
             "packed = pack_int8_rows(lambda i: torch.ones(len(i), 256), torch.arange(2), 256)\n"
             "x = torch.ones(3, 256)\n"
             "print(kernel_saturates(), float((int8_matmul(x, packed) - 256).abs().max()))\n")
    env = dict(os.environ, FBGEMM_ENABLE_INSTRUCTIONS="AVX2", ONEDNN_MAX_CPU_ISA="AVX2")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env,
                            capture_output=True, text=True, check=True)
    saturates, error = result.stdout.split()
    assert saturates == "True"  # the forced kernels do overflow 8 bits
    assert float(error) < 1  # ones quantise exactly in 7 bits; 126 off when pairs saturate
