"""Which adapter a profile loads: auto, none, a folder, or a name."""

import json

import pytest

from adapters.manifest import folder_fingerprint
from assistant.runtime import adapter_choice
from assistant.runtime.adapter_choice import choose_adapter

CONFIG = {"model_type": "gemma3_text", "vocab_size": 262144, "hidden_size": 640,
          "num_hidden_layers": 18}


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """A bundled-adapters folder with a chat adapter trained on 'gemma-3-270m'."""
    root = tmp_path / "bundled"
    chat = root / "chat"
    chat.mkdir(parents=True)
    trained_on = model_folder(tmp_path / "trained-on", CONFIG)  # as training records it
    (chat / "lira-adapter.json").write_text(json.dumps(
        {"base": {"reference": "gemma-3-270m", "fingerprint": folder_fingerprint(trained_on)}}))
    monkeypatch.setattr(adapter_choice, "BUNDLED_DIR", root)
    return root


def model_folder(tmp_path, config):
    folder = tmp_path / "model"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_auto_takes_the_bundled_adapter_for_its_own_base(bundled, tmp_path):
    choice = choose_adapter("auto", "chat", "gemma-3-270m", None, tmp_path)
    assert choice == adapter_choice.AdapterChoice(bundled / "chat", "bundled default")


def test_auto_knows_the_base_by_fingerprint_under_another_name(bundled, tmp_path):
    folder = model_folder(tmp_path, CONFIG)
    assert choose_adapter("auto", "chat", str(folder), folder, tmp_path).path == bundled / "chat"


def test_auto_falls_back_to_the_base_alone_for_another_model(bundled, tmp_path):
    folder = model_folder(tmp_path, CONFIG | {"hidden_size": 64})
    choice = choose_adapter("auto", "chat", "tiny", folder, tmp_path)
    assert choice.path is None and "gemma-3-270m" in choice.source
    # no adapter bundled for the poem profile here
    assert choose_adapter("auto", "poem", "gemma-3-270m", None, tmp_path).path is None


def test_none_folder_and_names(bundled, tmp_path):
    home = tmp_path / "home"
    (home / "adapters" / "mine").mkdir(parents=True)
    assert choose_adapter("none", "chat", "m", None, home).path is None
    assert choose_adapter(None, "chat", "m", None, home).path is None
    assert choose_adapter("mine", "chat", "m", None, home).source == "installed"
    assert choose_adapter("chat", "poem", "m", None, home).path == bundled / "chat"
    assert choose_adapter(str(bundled / "chat"), "chat", "m", None, home).source == "local folder"
    assert choose_adapter("absent", "chat", "m", None, home).source == "missing"
