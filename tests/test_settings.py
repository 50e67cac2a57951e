"""Settings precedence: flags > environment > lira.toml > defaults."""

from pathlib import Path

import pytest

from assistant.errors import SettingsError
from assistant.settings import Settings, env_name, load_settings, setting_keys


def test_defaults_without_config(lira_home):
    settings = load_settings()
    assert settings.home == lira_home
    assert settings.chat.model == "gemma-3-270m"
    assert settings.embedder == "multilingual-e5-small"
    assert settings.index_dir() == lira_home / "indexes" / "default"


def test_precedence_flag_over_env_over_toml(lira_home, monkeypatch):
    lira_home.mkdir(parents=True)
    (lira_home / "lira.toml").write_text('k = 3\nembedder = "from-toml"\n'
                                         '[chat]\nmodel = "toml-model"\nadapter = "toml-ad"\n',
                                         encoding="utf-8")
    assert load_settings().k == 3
    assert load_settings().chat.adapter == "toml-ad"
    monkeypatch.setenv("LIRA_K", "7")
    monkeypatch.setenv("LIRA_CHAT_MODEL", "env-model")
    settings = load_settings()
    assert (settings.k, settings.chat.model, settings.embedder) == (7, "env-model", "from-toml")
    settings = load_settings({"k": 9, "chat.model": None})
    assert settings.k == 9 and settings.chat.model == "env-model"


def test_home_from_flag_reads_that_toml(tmp_path, lira_home):
    other = tmp_path / "other"
    other.mkdir()
    (other / "lira.toml").write_text("max_new_tokens = 12\n", encoding="utf-8")
    settings = load_settings({"home": other})
    assert settings.home == other and settings.max_new_tokens == 12


def test_adapter_none_string_becomes_none(lira_home, monkeypatch):
    monkeypatch.setenv("LIRA_POEM_ADAPTER", "none")
    assert load_settings().poem.adapter is None


@pytest.mark.parametrize("content,needle", [
    ("k = [", "not valid TOML"),
    ("colour = 'red'", "unknown setting 'colour'"),
    ("k = 'many'", "must be int"),
])
def test_bad_config_gives_one_line(lira_home, content, needle):
    lira_home.mkdir(parents=True)
    (lira_home / "lira.toml").write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError, match=needle) as info:
        load_settings()
    assert "\n" not in str(info.value)


def test_bad_env_value(lira_home, monkeypatch):
    monkeypatch.setenv("LIRA_DEBUG", "perhaps")
    with pytest.raises(SettingsError, match="LIRA|debug"):
        load_settings()


def test_every_key_has_an_env_name():
    keys = setting_keys()
    assert "chat.adapter" in keys and "home" in keys
    assert env_name("chat.adapter") == "LIRA_CHAT_ADAPTER"
    assert len(set(map(env_name, keys))) == len(keys)
    assert isinstance(Settings().home, Path)


def test_model_cache_moves_models_dir(lira_home, monkeypatch, tmp_path):
    assert load_settings().models_dir == lira_home / "models"
    monkeypatch.setenv("LIRA_MODEL_CACHE", str(tmp_path / "shared-models"))
    assert load_settings().models_dir == tmp_path / "shared-models"
