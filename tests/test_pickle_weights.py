"""Model folders with pickle weights (pytorch_model.bin, one file or shards), as ruT5-large,
ruGPT-3.5 and open_llama_3b are published: read with torch's restricted unpickler, converted
once to safetensors in LIRA_HOME, and a pickle that would run code refused without running it."""

import json
import os
import shutil
from pathlib import Path

import pytest

from assistant.errors import ModelLoadError
from assistant.runtime.loading import load_model
from assistant.runtime.models import resolve
from assistant.settings import Settings


def as_published(source: Path, folder: Path, shards: int = 1) -> Path:
    """A copy of the model in ``source`` with its weights in pickle files, tied tensors
    sharing memory, the way transformers' torch.save-based checkpoints hold them."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    config = AutoConfig.from_pretrained(source)
    auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    state = auto.from_pretrained(source).state_dict()
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.safetensors*"))
    if shards == 1:
        torch.save(state, folder / "pytorch_model.bin")
        return folder
    names = list(state)
    weight_map = {}
    for n in range(shards):
        part = names[n::shards]
        file = f"pytorch_model-{n + 1:05d}-of-{shards:05d}.bin"
        torch.save({k: state[k] for k in part}, folder / file)
        weight_map |= {k: file for k in part}
    (folder / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map}), encoding="utf-8")
    return folder


def logits(folder: Path, text: str = "Мороз и солнце"):
    import torch

    loaded = load_model(folder, "m", device="cpu")
    ids = loaded.tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        if loaded.is_seq2seq:
            return loaded.model(input_ids=ids, decoder_input_ids=ids[:, :3]).logits
        return loaded.model(input_ids=ids).logits


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.mark.parametrize("kind, shards", [("gpt2", 1), ("t5", 1), ("llama", 2)])
def test_pickle_weights_are_converted_once_and_load_the_same_model(tiny_models, tmp_path, settings,
                                                                    kind, shards):
    import torch

    source = as_published(tiny_models[kind], tmp_path / f"{kind}-bin", shards)
    before = {p.name: p.stat().st_mtime_ns for p in source.iterdir()}
    said: list[str] = []
    converted = resolve(str(source), settings, said.append)
    assert converted.parent == settings.models_dir / "converted" and converted != source
    assert any("converting" in line and "safetensors" in line for line in said)
    assert not list(converted.glob("*.bin")) and list(converted.glob("*.safetensors"))
    assert torch.allclose(logits(converted), logits(tiny_models[kind]), atol=1e-5)
    again: list[str] = []
    assert resolve(str(source), settings, again.append) == converted and again == []  # once
    assert {p.name: p.stat().st_mtime_ns for p in source.iterdir()} == before  # source untouched
    assert not [p for p in converted.parent.iterdir() if p.name.startswith(".")]  # no scratch left


class RunsCode:
    """Pickled as a call to os.system: what a malicious checkpoint holds."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tiny_models, tmp_path, settings):
    import torch

    source = as_published(tiny_models["gpt2"], tmp_path / "evil")
    marker = tmp_path / "pwned"
    state = torch.load(source / "pytorch_model.bin", weights_only=True)
    state["transformer.h.0.attn.c_attn.weight"] = RunsCode(marker)
    torch.save(state, source / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="refused .*pytorch_model.bin: it holds more than tensors") as info:
        resolve(str(source), settings)
    assert "\n" not in str(info.value)
    assert not marker.exists()
    converted = settings.models_dir / "converted"
    assert not converted.exists() or not list(converted.iterdir())  # nothing half-written


def test_a_folder_with_safetensors_is_used_as_it_is(tiny_models, settings):
    assert resolve(str(tiny_models["gpt2"]), settings) == tiny_models["gpt2"].resolve()


def test_a_damaged_shard_index_is_one_line(tiny_models, tmp_path, settings):
    source = as_published(tiny_models["llama"], tmp_path / "llama-bin", shards=2)
    (source / "pytorch_model.bin.index.json").write_text('{"weight_map": {"x": "../../etc/passwd"}}')
    with pytest.raises(ModelLoadError, match="names a shard that is not in"):
        resolve(str(source), settings)
    (source / "pytorch_model.bin.index.json").write_text("not json")
    with pytest.raises(ModelLoadError, match="the model folder is damaged"):
        resolve(str(source), settings)


def test_the_legacy_pickle_format_converts_too(tiny_models, tmp_path, settings):
    """torch.save before the zip format: torch cannot memory-map it, so it is read whole."""
    import torch

    source = as_published(tiny_models["gpt2"], tmp_path / "legacy")
    state = torch.load(source / "pytorch_model.bin", weights_only=True)
    torch.save(state, source / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    converted = resolve(str(source), settings)
    assert torch.allclose(logits(converted), logits(tiny_models["gpt2"]), atol=1e-5)
