"""Model sizes from configs (meta-device builds) and the refusal of a model that cannot fit."""

from __future__ import annotations

import pytest

from adapters import base_model, model_size
from adapters.errors import BaseModelError

# Sizes as their publishers state them (model cards; open_llama_3b: 3.43B on the Hub's page).
PUBLISHED = {"ai-forever/ruT5-large": 737e6, "openlm-research/open_llama_3b": 3.43e9,
             "openlm-research/open_llama_7b": 6.74e9, "google/gemma-3-270m": 270e6,
             "ai-forever/ruGPT-3.5-13B": 13e9}
# "13B" is a round name: the config gives 12.85B, 1.1% under it
TOLERANCE = {"ai-forever/ruGPT-3.5-13B": 0.015}


@pytest.mark.parametrize("kind", ["gpt2", "llama", "t5"])
def test_parameter_count_equals_the_loaded_model(tiny_models, kind):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    auto = AutoModelForSeq2SeqLM if kind == "t5" else AutoModelForCausalLM
    loaded = auto.from_pretrained(tiny_models[kind])
    config = AutoConfig.from_pretrained(tiny_models[kind])
    assert model_size.parameter_count(config) == sum(p.numel() for p in loaded.parameters())


@pytest.mark.parametrize("name", sorted(model_size.SEED_CONFIGS))
def test_seed_models_have_their_published_sizes(name):
    count = model_size.parameter_count(model_size.seed_config(name))
    assert count == pytest.approx(PUBLISHED[name], rel=TOLERANCE.get(name, 0.01))


def test_quantised_weights_keep_embeddings_in_16_bit():
    shape = model_size.model_shape(model_size.seed_config("google/gemma-3-270m"))
    # two thirds of gemma-3-270m is its embedding, which bitsandbytes leaves alone
    assert shape.quantisable < shape.parameters / 2
    need = model_size.bytes_needed(shape, "4bit", "run")
    assert need.weights > (shape.parameters - shape.quantisable) * 2
    fp32 = model_size.bytes_needed(shape, "fp32", "train")
    assert fp32.weights == shape.parameters * 4 and fp32.total > fp32.weights


def test_training_needs_more_than_running():
    shape = model_size.model_shape(model_size.seed_config("openlm-research/open_llama_3b"))
    for precision in model_size.PRECISIONS:
        run = model_size.bytes_needed(shape, precision, "run")
        train = model_size.bytes_needed(shape, precision, "train")
        assert run.weights == train.weights < run.total < train.total


@pytest.fixture
def no_weights_read(monkeypatch):
    """Fails the test if transformers' from_pretrained is reached."""
    from transformers import AutoModelForCausalLM

    def refuse(*args, **kwargs):
        raise AssertionError("weights were read")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)


def load(folder):
    return base_model.from_pretrained(folder, False, "cpu", "none", "the test model")


def test_a_model_that_cannot_fit_is_refused_before_loading(tiny_models, monkeypatch,
                                                          no_weights_read):
    monkeypatch.delenv(model_size.SKIP_FIT_CHECK, raising=False)
    monkeypatch.setattr(model_size, "available_bytes", lambda device: 1000)
    with pytest.raises(BaseModelError) as error:
        load(tiny_models["llama"])
    message = str(error.value)
    assert "\n" not in message
    assert "fp32 weights alone" in message and "cpu has 0.0 GB available" in message
    assert "--quantization 8bit or 4bit" in message and "LIRA_SKIP_FIT_CHECK=1" in message


def test_skip_fit_check_loads_anyway(tiny_models, monkeypatch):
    monkeypatch.setenv(model_size.SKIP_FIT_CHECK, "1")
    monkeypatch.setattr(model_size, "available_bytes", lambda device: 1000)
    assert load(tiny_models["llama"]) is not None


def test_weights_that_fit_with_too_little_room_load_with_a_note(tiny_models, monkeypatch,
                                                               caplog):
    monkeypatch.delenv(model_size.SKIP_FIT_CHECK, raising=False)
    # the tiny model's weights fit; its KV cache and the runtime's gigabyte do not
    monkeypatch.setattr(model_size, "available_bytes", lambda device: 10**7)
    assert load(tiny_models["llama"]) is not None
    assert "may run out of memory" in caplog.text


def test_unknown_memory_or_config_checks_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(model_size, "available_bytes", lambda device: None)
    assert model_size.check_fits(tmp_path, "cpu", "fp32") is None
    monkeypatch.setattr(model_size, "available_bytes", lambda device: 1000)
    assert model_size.check_fits(tmp_path, "cpu", "fp32") is None  # no config.json: the loader says


def test_available_ram_is_read_on_linux():
    import sys

    free = model_size.available_bytes("cpu")
    assert free is None if not sys.platform.startswith("linux") else free > 0
