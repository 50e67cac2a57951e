"""The llama.cpp engine (assistant.runtime.llama_engine, engines) on a tiny GGUF made here.

The GGUF holds the tiny transformers LLaMA's own weights (tests/tiny_gguf.py), so
the two engines are compared directly: the same logits, the same greedy text,
with and without a LoRA adapter exported by adapters.gguf_lora.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.engine import Engine
from assistant.errors import LiraError, ModelLoadError, SettingsError
from assistant.runtime.llama_engine import LlamaGenerator, llama_available
from assistant.runtime.presets import Preset
from assistant.settings import load_settings
from tests.conftest import make_adapter
from tests.tiny_gguf import write_llama_gguf

pytestmark = pytest.mark.skipif(not llama_available(),
                                reason="llama-cpp-python is not installed (make setup builds it)")

GREEDY = Preset(max_new_tokens=12)
PROMPT = "Москва — столица России. Петербург основан"


@pytest.fixture(scope="module")
def tiny_gguf(tiny_models, tmp_path_factory):
    return write_llama_gguf(tiny_models["llama"], tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture
def engine_of(lira_home):
    def make(model, adapter="none", **more):
        flags = {"chat.model": str(model), "chat.adapter": str(adapter), **more}
        return Engine(load_settings(flags))
    return make


def hf_greedy(model_dir, prompt, new_tokens, adapter=None, **more):
    """Greedy token ids after ``prompt`` from transformers (with a peft adapter)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=None, **more)
    return ids[0].tolist(), out[0, ids.shape[1]:].tolist()


def test_llama_cpp_reads_the_gguf_as_transformers_reads_the_model(tiny_gguf, tiny_models,
                                                                   engine_of):
    generator = engine_of(tiny_gguf).generator("chat")
    assert isinstance(generator, LlamaGenerator)
    llama = generator.loaded.llama
    prompt_ids, expected = hf_greedy(tiny_models["llama"], PROMPT, 12)
    assert llama.tokenize(PROMPT.encode(), add_bos=True, special=True) == prompt_ids
    assert generator.count_tokens(PROMPT) == len(prompt_ids)
    stream = generator.stream(PROMPT, GREEDY)
    text = "".join(stream)
    assert text == llama.detokenize(expected).decode("utf-8", errors="replace")
    assert stream.stats.new_tokens == 12 and stream.stats.stopped_by == "max tokens"
    assert stream.stats.prompt_tokens == len(prompt_ids) and stream.stats.first_token_s > 0


def test_the_presets_penalties_work_as_transformers_ones(tiny_gguf, tiny_models, engine_of):
    """The repetition penalty covers the prompt too, and the temperature comes before top-k
    and top-p, as in transformers (llama.cpp's own sampler does neither)."""
    import numpy as np
    import torch

    from assistant.runtime.decode_loop import logits_processors
    from assistant.runtime.llama_engine import sampling_processors

    generator = engine_of(tiny_gguf).generator("chat")
    penalised = replace(GREEDY, repetition_penalty=1.8, max_new_tokens=16)
    _, expected = hf_greedy(tiny_models["llama"], PROMPT, 16, repetition_penalty=1.8)
    _, plain = hf_greedy(tiny_models["llama"], PROMPT, 16)
    assert expected != plain  # the penalty changes the text, so the check below means something
    assert "".join(generator.stream(PROMPT, penalised)) == generator.loaded.llama.detokenize(
        expected).decode("utf-8", errors="replace")
    sampled = Preset(do_sample=True, temperature=0.7, top_k=0, top_p=1.0,
                     repetition_penalty=1.3, no_repeat_ngram_size=2)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, 30)
    logits = rng.normal(size=50).astype(np.float32)
    ours = sampling_processors(sampled)
    got = logits.copy()
    for step in ours:
        got = step(ids, got)
    want = logits_processors(sampled)(torch.tensor(ids)[None], torch.tensor(logits)[None])[0]
    assert np.allclose(got, want.numpy(), atol=1e-6)
    outside = np.zeros(50, dtype=bool)
    outside[::2] = True  # tokens outside the vocabulary subset are never written
    masked = logits.copy()
    for step in sampling_processors(sampled, outside):
        masked = step(ids, masked)
    assert np.isneginf(masked[::2]).all() and np.allclose(masked[1::2], got[1::2])


def test_a_lora_runs_on_llama_cpp_as_peft_runs_it(tiny_gguf, tiny_models, engine_of, tmp_path,
                                                  lira_home):
    adapter = make_adapter(tiny_models["llama"], "llama", "lora", tmp_path / "lora")
    unmerged = {"speed.merge_adapter": False}
    generator = engine_of(tiny_gguf, adapter, **unmerged).generator("chat")
    _, base = hf_greedy(tiny_models["llama"], PROMPT, 12)
    _, adapted = hf_greedy(tiny_models["llama"], PROMPT, 12, adapter)
    assert adapted != base  # the adapter changes the answer, so the check below means something
    text = "".join(generator.stream(PROMPT, GREEDY))
    assert text == generator.loaded.llama.detokenize(adapted).decode("utf-8", errors="replace")
    assert generator.loaded.adapter == str(adapter)
    # exported once: a second engine finds the LoRA GGUF under LIRA_HOME/models/gguf
    exported = list((lira_home / "models" / "gguf").glob("lora-lora-*.gguf"))
    assert len(exported) == 1
    engine_of(tiny_gguf, adapter, **unmerged).generator("chat")
    assert list((lira_home / "models" / "gguf").glob("lora-lora-*.gguf")) == exported


def test_a_lora_merged_into_the_gguf_runs_as_peft_runs_it(tiny_gguf, tiny_models, engine_of,
                                                          tmp_path, lira_home):
    adapter = make_adapter(tiny_models["llama"], "llama", "lora", tmp_path / "lora")
    _, base = hf_greedy(tiny_models["llama"], PROMPT, 12)
    _, adapted = hf_greedy(tiny_models["llama"], PROMPT, 12, adapter)
    assert adapted != base
    generator = engine_of(tiny_gguf, adapter).generator("chat")  # speed.merge_adapter: the default
    assert "".join(generator.stream(PROMPT, GREEDY)) == generator.loaded.llama.detokenize(
        adapted).decode("utf-8", errors="replace")
    assert generator.loaded.llama.metadata["lira.merged_adapter"] == "lora"
    assert not list((lira_home / "models" / "gguf").glob("lora-*.gguf"))  # no runtime LoRA


def test_a_dora_adapter_is_refused_by_name_merged_or_exported(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    from adapters.errors import MergeError
    from adapters.gguf_lora import GgufBase, export_lora_gguf
    from adapters.gguf_merge import merge_lora_gguf

    adapter = tmp_path / "dora"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        '{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_dora": true}', encoding="utf-8")
    prefix = "base_model.model.model.layers.0.self_attn.v_proj"
    save_file({f"{prefix}.lora_A.weight": np.zeros((4, 8), np.float32),
               f"{prefix}.lora_B.weight": np.zeros((8, 4), np.float32),
               f"{prefix}.lora_magnitude_vector": np.ones(8, np.float32)},
              str(adapter / "adapter_model.safetensors"))
    base = GgufBase("llama", 1, 1, 1, {"blk.0.attn_v.weight": (8, 8)})
    with pytest.raises(MergeError, match="DoRA"):
        merge_lora_gguf(adapter, tmp_path / "unread.gguf", base, tmp_path / "merged.gguf")
    with pytest.raises(MergeError, match="DoRA"):
        export_lora_gguf(adapter, base, tmp_path / "lora.gguf")
    assert not list(tmp_path.glob("*.gguf"))


def test_a_merged_lora_keeps_its_delta_in_a_quantised_base(tmp_path):
    """A quantised base's adapted weights are written as Q8_0: in their own type the small
    delta would round back onto the base's grid and vanish."""
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFReader, GGUFWriter, quants
    from safetensors.numpy import save_file

    from adapters.gguf_lora import GgufBase
    from adapters.gguf_merge import merge_lora_gguf

    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.05, (64, 64)).astype(np.float32)
    base_path = tmp_path / "base.gguf"
    writer = GGUFWriter(str(base_path), "llama")
    writer.add_block_count(1)
    writer.add_tensor("blk.0.attn_v.weight", quants.quantize(weight, Q.Q5_0), raw_dtype=Q.Q5_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    adapter = tmp_path / "lora"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        '{"peft_type": "LORA", "r": 4, "lora_alpha": 8}', encoding="utf-8")
    down = rng.normal(0, 0.02, (4, 64)).astype(np.float32)
    up = rng.normal(0, 0.02, (64, 4)).astype(np.float32)
    save_file({"base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight": down,
               "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight": up},
              str(adapter / "adapter_model.safetensors"))
    base = GgufBase("llama", 1, 1, 1, {"blk.0.attn_v.weight": (64, 64)})
    merged = merge_lora_gguf(adapter, base_path, base, tmp_path / "merged.gguf")

    (tensor,) = GGUFReader(merged).tensors
    assert tensor.tensor_type == Q.Q8_0
    got = quants.dequantize(tensor.data, tensor.tensor_type)
    before = quants.dequantize(quants.quantize(weight, Q.Q5_0), Q.Q5_0)
    delta = 2.0 * up @ down
    kept = float(np.sum((got - before) * delta) / np.sum(delta * delta))
    assert 0.9 < kept < 1.1  # the delta's projection survives whole
    in_own_type = quants.dequantize(quants.quantize(before + delta, Q.Q5_0), Q.Q5_0)
    assert float(np.sum((in_own_type - before) * delta) / np.sum(delta * delta)) < 0.5


def test_stop_strings_cancel_and_the_next_prompt_reuses_the_prefix(tiny_gguf, engine_of):
    generator = engine_of(tiny_gguf, **{"speed.threads": "1"}).generator("chat")
    # the threads setting reaches llama.cpp, for decoding and for prompts
    assert generator.loaded.llama.n_threads == generator.loaded.llama.n_threads_batch == 1
    whole = "".join(generator.stream(PROMPT, GREEDY))
    stop = whole[3:6]
    cut = generator.stream(PROMPT, replace(GREEDY, stop=(stop,)))
    assert "".join(cut) == whole[:whole.index(stop)] and cut.stats.stopped_by == "stop string"
    assert cut.stats.reused_tokens == cut.stats.prompt_tokens  # the same prompt: all kept
    longer = generator.stream(PROMPT + " давно", GREEDY)
    "".join(longer)
    assert 0 < longer.stats.reused_tokens < longer.stats.prompt_tokens
    cancel = threading.Event()
    stream = generator.stream(PROMPT, replace(GREEDY, max_new_tokens=200), cancel)
    pieces = iter(stream)
    next(pieces)
    cancel.set()
    list(pieces)
    assert stream.stats.stopped_by == "cancelled" and stream.stats.new_tokens < 200


def test_sampling_follows_the_preset_and_repeats_are_forbidden(tiny_gguf, engine_of):
    import random

    # llama.cpp's sampler is seeded from Python's generator: unseeded, about one draw in 30
    # samples the tiny model's end-of-sequence token within 40 tokens
    random.seed(1)
    generator = engine_of(tiny_gguf).generator("chat")
    sampled = Preset(max_new_tokens=40, do_sample=True, temperature=1.5, top_k=0, top_p=1.0,
                     no_repeat_ngram_size=2)
    stream = generator.stream(PROMPT, sampled)
    "".join(stream)
    ids = stream.stats.new_tokens
    assert ids == 40
    tokens = generator.loaded.llama._input_ids[:generator.loaded.llama.n_tokens].tolist()
    pairs = list(zip(tokens, tokens[1:]))
    assert len(pairs) == len(set(pairs))  # no 2-gram twice, prompt included
    random.seed(7)  # what evals seed (transformers.set_seed) also seeds llama.cpp's sampler
    first = "".join(generator.stream(PROMPT, sampled))
    random.seed(7)
    assert "".join(generator.stream(PROMPT, sampled)) == first


def test_an_ia3_adapter_runs_merged_into_the_gguf_as_peft_runs_it(tiny_gguf, tiny_models,
                                                                   engine_of, tmp_path, lira_home):
    ia3 = make_adapter(tiny_models["llama"], "llama", "ia3", tmp_path / "ia3")
    _, base = hf_greedy(tiny_models["llama"], PROMPT, 12)
    _, adapted = hf_greedy(tiny_models["llama"], PROMPT, 12, ia3)
    assert adapted != base
    generator = engine_of(tiny_gguf, ia3).generator("chat")
    assert "".join(generator.stream(PROMPT, GREEDY)) == generator.loaded.llama.detokenize(
        adapted).decode("utf-8", errors="replace")
    merged = list((lira_home / "models" / "gguf").glob("merged-ia3-*.gguf"))
    assert len(merged) == 1 and generator.loaded.llama.metadata["lira.merged_adapter"] == "ia3"


def test_llama_cpp_log_probabilities_are_transformers_ones(tiny_gguf, tiny_models, engine_of):
    """The poem's fluency, its rhyme-word choice and the badge's confidence read the same
    log-probabilities from llama.cpp as from torch."""
    import numpy as np

    from assistant.grounding.confidence import answer_log_prob
    from assistant.poetry.constrained_tail import next_words
    from assistant.poetry.fluency import mean_logprob

    on_llama = engine_of(tiny_gguf).generator("chat")
    on_torch = engine_of(tiny_models["llama"]).generator("chat")
    text = " столица России, и город большой"
    expected = mean_logprob(on_torch.loaded, PROMPT, text)
    assert mean_logprob(on_llama.loaded, PROMPT, text) == pytest.approx(expected, abs=1e-3)
    assert answer_log_prob(on_llama.loaded, PROMPT, "В 1703 году.") == pytest.approx(
        answer_log_prob(on_torch.loaded, PROMPT, "В 1703 году."), abs=1e-3)
    assert mean_logprob(on_llama.loaded, PROMPT, "") is None
    words = [w.word for w in next_words(on_torch, PROMPT, lambda word: True)]
    assert words and [w.word for w in next_words(on_llama, PROMPT, lambda word: True)] == words
    # scoring leaves llama.cpp's cache usable: the next generation is the greedy one
    again = on_llama.stream(PROMPT, GREEDY)
    assert "".join(again) == "".join(engine_of(tiny_gguf).generator("chat").stream(PROMPT, GREEDY))
    assert np.isfinite(mean_logprob(on_llama.loaded, PROMPT, text))


def test_the_bundled_model_runs_on_llama_cpp_on_a_cpu_unless_it_cannot(bundled_settings,
                                                                       monkeypatch):
    from dataclasses import replace as replaced

    from adapters.registry import BUNDLED_DIR
    from assistant.runtime import engines

    chat, poet = BUNDLED_DIR / "chat", BUNDLED_DIR / "poet"
    settings = bundled_settings
    assert engines.plan_engine(settings.chat, settings, chat).engine == engines.LLAMA
    assert engines.plan_engine(settings.poem, settings, poet).engine == engines.LLAMA
    forced = engines.plan_engine(replaced(settings.chat, engine="transformers"), settings, chat)
    assert forced == engines.EnginePlan(engines.TRANSFORMERS)  # asked for: no note
    on_gpu = engines.plan_engine(settings.chat, replaced(settings, device="cuda"), chat)
    assert on_gpu.engine == engines.TRANSFORMERS and "cuda" in on_gpu.note
    # it samples within the same Russian vocabulary subset as the transformers path
    import numpy as np
    from transformers import AutoTokenizer

    from assistant.runtime.cpu.vocab_subset import load_subset

    outside = Engine(settings).generator("chat", "none").loaded.outside
    tokenizer = AutoTokenizer.from_pretrained(settings.models_dir / "gemma-3-270m")
    assert np.flatnonzero(~outside).tolist() == sorted(load_subset(tokenizer))
    monkeypatch.setattr(engines, "llama_available", lambda: False)
    missing = engines.plan_engine(settings.chat, settings, chat)
    assert missing.engine == engines.TRANSFORMERS and "not installed" in missing.note


def test_lira_adapters_export_gguf_writes_beside_the_adapter_once(tiny_gguf, tiny_models,
                                                                   tmp_path, capsys, lira_home,
                                                                   monkeypatch):
    from assistant.cli import main

    ia3 = make_adapter(tiny_models["llama"], "llama", "ia3", tmp_path / "ia3")
    lora = make_adapter(tiny_models["llama"], "llama", "lora", tmp_path / "lora")
    assert main(["adapters", "export-gguf", str(ia3), "--base", str(tiny_gguf),
                 "--quant", "q8_0"]) == 0
    assert main(["adapters", "export-gguf", str(lora), "--base", str(tiny_gguf)]) == 0
    monkeypatch.setenv("LIRA_SPEED_MERGE_ADAPTER", "false")  # the LoRA as llama.cpp applies it
    assert main(["adapters", "export-gguf", str(lora), "--base", str(tiny_gguf)]) == 0
    monkeypatch.delenv("LIRA_SPEED_MERGE_ADAPTER")
    captured = capsys.readouterr()
    out = captured.out
    assert "llama_model_quantize" not in captured.err  # llama.cpp's own log stays quiet
    (merged,) = ia3.glob("merged-ia3-*-q8_0.gguf")
    (merged_lora,) = lora.glob("merged-lora-*.gguf")
    (exported,) = lora.glob("lora-lora-*.gguf")
    assert str(merged) in out and str(merged_lora) in out and str(exported) in out
    from gguf import GGUFReader

    kinds = {t.tensor_type.name for t in GGUFReader(merged).tensors if t.name.endswith("attn_q.weight")}
    assert kinds == {"Q8_0"}  # llama.cpp's quantiser ran over the merged copy
    # the engine takes the exports beside the adapters and makes no second copy
    engine = Engine(load_settings({"chat.model": str(tiny_gguf), "chat.adapter": str(lora)}))
    assert Path(engine.generator("chat").loaded.path) == merged_lora
    assert not list((lira_home / "models" / "gguf").glob("*lora-*.gguf"))
    assert main(["adapters", "export-gguf", str(tmp_path / "nothing"), "--base",
                 str(tiny_gguf)]) != 0


def test_what_llama_cpp_cannot_run_is_one_line(tiny_gguf, tiny_models, engine_of, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tiny_gguf.read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match="broken.gguf"):
        engine_of(broken).generator("chat")
    with pytest.raises(SettingsError, match="GGUF file, which transformers does not run"):
        engine_of(tiny_gguf, **{"chat.engine": "transformers"}).generator("chat")
    prompt = make_adapter(tiny_models["llama"], "llama", "prompt", tmp_path / "prompt")
    with pytest.raises(SettingsError, match="LoRA and \\(merged\\) IA3 adapters only"):
        engine_of(tiny_gguf, prompt).generator("chat")
    with pytest.raises(SettingsError, match="no GGUF file"):
        engine_of(tiny_models["llama"], **{"chat.engine": "llama.cpp"}).generator("chat")
    with pytest.raises(LiraError, match="beam search"):
        engine_of(tiny_gguf).generator("chat").stream(PROMPT, replace(GREEDY, num_beams=2))
    from adapters.registry import BUNDLED_DIR

    with pytest.raises(ModelLoadError, match="does not fit this base model"):  # gemma's LoRA
        engine_of(tiny_gguf, BUNDLED_DIR / "chat").generator("chat")
    window = engine_of(tiny_gguf).generator("chat").loaded.context_window
    with pytest.raises(LiraError, match=f"exceeds the model's {window}-token window"):
        "".join(engine_of(tiny_gguf).generator("chat").stream("слово " * window, GREEDY))
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(tmp_path / "unknown.gguf"), "nosucharch")
    writer.add_tensor("x", np.zeros((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelLoadError, match="unknown.gguf.*an architecture llama.cpp knows"):
        engine_of(tmp_path / "unknown.gguf").generator("chat")


def test_lira_ask_answers_with_a_gguf_model(tiny_gguf, tiny_embedder_dir, docs, capsys,
                                            lira_home):
    import json

    from assistant.cli import main

    base = ["--embedder", str(tiny_embedder_dir), "--model", str(tiny_gguf)]
    assert main(base + ["index", str(docs)]) == 0
    capsys.readouterr()
    assert main(base + ["ask", "Когда основан Петербург?", "--json", "--max-new-tokens", "6",
                        "--no-check", "--adapter", "none"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["model"]["reference"] == str(tiny_gguf) and answer["sources"]
    assert 0 < answer["stats"]["new_tokens"] <= 6
