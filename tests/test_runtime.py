"""Loading and generating with tiny causal and seq2seq models, with and without adapters."""

import json
import threading
from pathlib import Path

import pytest
import torch

from adapters.errors import AdapterFolderError
from adapters.loading import inspect_adapter
from assistant.errors import GenerationError, ModelLoadError
from assistant.runtime.generation import Generator, _cut_at_stop, _partial_stop_len
from assistant.runtime.loading import load_model
from assistant.runtime.presets import PRESETS
from tests.conftest import make_adapter

PROMPT = "Москва — столица России. Вопрос: что такое"
GREEDY = PRESETS["answer"].with_overrides(max_new_tokens=12, stop=(), repetition_penalty=1.0)


@pytest.fixture(scope="module")
def adapters_dir(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("adapters")
    return {(kind, method): make_adapter(tiny_models[kind], kind, method, root / f"{kind}-{method}")
            for kind in ("gpt2", "llama", "t5") for method in ("lora", "ia3", "prompt")}


def logits(loaded, text=PROMPT):
    inputs = loaded.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        if loaded.is_seq2seq:
            start = torch.tensor([[loaded.model.config.decoder_start_token_id]])
            return loaded.model(**inputs, decoder_input_ids=start).logits[0, -1]
        return loaded.model(**inputs).logits[0, -1]


def plain_greedy(loaded, prompt=PROMPT, max_new_tokens=12):
    """The new token ids of transformers' own greedy generate (a seq2seq decoder's start
    token left out)."""
    inputs = loaded.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        plain = loaded.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=loaded.tokenizer.pad_token_id)
    return plain[0, 1:] if loaded.is_seq2seq else plain[0, inputs["input_ids"].shape[1]:]


@pytest.mark.parametrize("kind", ["gpt2", "llama", "t5"])
def test_stream_matches_plain_generate(tiny_models, kind):
    loaded = load_model(tiny_models[kind], kind, "cpu")
    assert loaded.is_seq2seq == (kind == "t5")
    stream = Generator(loaded).stream(PROMPT, GREEDY)
    pieces = list(stream)
    new = plain_greedy(loaded)
    assert "".join(pieces) == loaded.tokenizer.decode(new, skip_special_tokens=True)
    assert stream.stats.new_tokens == len(new)  # an end-of-sequence token counts
    assert stream.stats.stopped_by == ("max tokens" if len(new) == 12 else "eos")
    assert stream.stats.first_token_s is not None


@pytest.mark.parametrize("kind", ["llama", "t5"])
def test_beam_search_matches_transformers_beam_search(tiny_models, kind):
    loaded = load_model(tiny_models[kind], kind, "cpu")
    inputs = loaded.tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():
        plain = loaded.model.generate(**inputs, max_new_tokens=12, do_sample=False, num_beams=4,
                                      pad_token_id=loaded.tokenizer.pad_token_id)
    new = plain[0, 1:] if loaded.is_seq2seq else plain[0, inputs["input_ids"].shape[1]:]
    greedy = plain_greedy(loaded)
    assert new.tolist() != greedy.tolist()  # beams find another answer here: the test can tell
    stream = Generator(loaded).stream(PROMPT, GREEDY.with_overrides(num_beams=4))
    assert "".join(stream) == loaded.tokenizer.decode(new, skip_special_tokens=True)
    assert stream.stats.new_tokens == len(new)


def test_stream_stops_at_the_end_of_sequence(tiny_models):
    loaded = load_model(tiny_models["llama"], "llama", "cpu")
    greedy = plain_greedy(loaded).tolist()
    n = next(i for i in range(1, len(greedy)) if greedy[i] not in greedy[:i])
    loaded.model.generation_config.eos_token_id = greedy[n]  # greedy now ends at token n + 1
    stream = Generator(loaded).stream(PROMPT, GREEDY)
    text = "".join(stream)
    assert text == loaded.tokenizer.decode(greedy[:n + 1], skip_special_tokens=True)
    assert stream.stats.new_tokens == n + 1 < 12 and stream.stats.stopped_by == "eos"


@pytest.mark.parametrize("kind", ["gpt2", "llama", "t5"])
@pytest.mark.parametrize("method", ["lora", "ia3", "prompt"])
def test_adapter_changes_outputs(tiny_models, adapters_dir, kind, method):
    base = load_model(tiny_models[kind], kind, "cpu")
    adapted = load_model(tiny_models[kind], kind, "cpu", adapter=adapters_dir[(kind, method)])
    assert adapted.adapter and "peft" in type(adapted.model).__module__
    assert not torch.allclose(logits(base), logits(adapted), atol=1e-4)
    text = Generator(adapted).generate(PROMPT, GREEDY).text  # through the adapter too
    assert text == adapted.tokenizer.decode(plain_greedy(adapted), skip_special_tokens=True)


def test_sampling_preset_runs_and_is_seeded(tiny_models):
    loaded = load_model(tiny_models["llama"], "llama", "cpu")
    preset = PRESETS["poem"].with_overrides(max_new_tokens=10, stop=())
    torch.manual_seed(3)
    first = Generator(loaded).generate(PROMPT, preset).text
    torch.manual_seed(3)
    assert Generator(loaded).generate(PROMPT, preset).text == first
    others = set()
    for seed in (4, 5, 6):
        torch.manual_seed(seed)
        others.add(Generator(loaded).generate(PROMPT, preset).text)
    assert others - {first}  # it samples: another seed, another text


def test_stop_string_cuts_the_answer(tiny_models):
    loaded = load_model(tiny_models["gpt2"], "gpt2", "cpu")
    generator = Generator(loaded)
    free = generator.generate(PROMPT, GREEDY.with_overrides(max_new_tokens=20)).text
    assert len(free) >= 6
    stop = free[3:6]
    cut = generator.generate(PROMPT, GREEDY.with_overrides(max_new_tokens=20, stop=(stop,)))
    assert cut.text == free[:free.index(stop)]
    assert cut.stats.stopped_by == "stop string"


def test_cancel_stops_generation(tiny_models):
    loaded = load_model(tiny_models["gpt2"], "gpt2", "cpu")
    cancel = threading.Event()
    stream = Generator(loaded).stream(PROMPT, GREEDY.with_overrides(max_new_tokens=200), cancel)
    for _ in stream:
        cancel.set()
    assert stream.stats.stopped_by == "cancelled"
    assert stream.stats.new_tokens < 200


def test_prompt_longer_than_window_is_refused(tiny_models):
    loaded = load_model(tiny_models["gpt2"], "gpt2", "cpu")
    with pytest.raises(GenerationError, match="window"):
        Generator(loaded).stream("слово " * 1200, GREEDY)


def test_partial_stop_is_held_back():
    assert _cut_at_stop("ответ\nВопрос: ещё", ("\nВопрос:",)) == ("ответ", True)
    assert _partial_stop_len("ответ\nВоп", ("\nВопрос:",)) == 4
    assert _partial_stop_len("ответ", ("\nВопрос:",)) == 0


def test_pickle_adapter_is_refused(tmp_path, adapters_dir, tiny_models):
    folder = tmp_path / "pickled"
    folder.mkdir()
    source = adapters_dir[("gpt2", "lora")]
    (folder / "adapter_config.json").write_text((source / "adapter_config.json").read_text())
    (folder / "adapter_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(AdapterFolderError, match="pickle"):
        load_model(tiny_models["gpt2"], "gpt2", "cpu", adapter=folder)


@pytest.mark.parametrize("damage", ["no config", "bad json", "no weights", "bad type", "truncated"])
def test_broken_adapter_folder_gives_clear_error(tmp_path, adapters_dir, tiny_models, damage):
    import shutil

    folder = tmp_path / "broken"
    shutil.copytree(adapters_dir[("gpt2", "lora")], folder)
    config = folder / "adapter_config.json"
    weights = folder / "adapter_model.safetensors"
    if damage == "no config":
        config.unlink()
    elif damage == "bad json":
        config.write_text("{not json")
    elif damage == "no weights":
        weights.unlink()
    elif damage == "bad type":
        config.write_text(json.dumps({"peft_type": "MYSTERY"}))
    else:
        weights.write_bytes(weights.read_bytes()[:50])
    with pytest.raises(AdapterFolderError) as info:
        load_model(tiny_models["gpt2"], "gpt2", "cpu", adapter=folder)
    assert "\n" not in str(info.value) and str(folder) in str(info.value)


def test_adapter_for_another_base_is_refused(adapters_dir, tiny_models):
    with pytest.raises(AdapterFolderError, match="does not fit"):
        load_model(tiny_models["gpt2"], "gpt2", "cpu", adapter=adapters_dir[("llama", "lora")])


def test_inspect_reports_type(adapters_dir):
    assert inspect_adapter(adapters_dir[("t5", "ia3")]).peft_type == "IA3"


def test_folder_without_config_is_not_a_model(tmp_path):
    with pytest.raises(ModelLoadError, match="config.json"):
        load_model(tmp_path, "empty", "cpu")


def test_a_load_failure_without_a_message_is_still_one_line():
    from adapters.base_model import quiet_load
    from adapters.errors import BaseModelError

    with pytest.raises(BaseModelError, match=r"^cannot load the model from /m: OSError$"):
        with quiet_load("the model", Path("/m")):
            raise OSError()
