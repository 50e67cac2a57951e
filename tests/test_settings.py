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
    ("k = 'many'", "k must be an integer from 1 to 100"),
    ("k = true", "k must be an integer"),
    ("k = 1.5", "k must be an integer"),
    ("device = 3", "device must be one of auto|cpu|cuda"),
    ("max_file_mb = -1", "max_file_mb must be a number greater than 0"),
    ("temperature = nan", "temperature must be a number from 0.05 to 2"),
    ("check = 'maybe'", "check must be true or false"),
    ('index_name = "../x"', "index_name must be a plain name"),
    ("[chat]\nquantization = '3bit'", "chat.quantization must be one of none|8bit|4bit"),
    ("[speed]\nthreads = -2", "speed.threads must be an integer from 0 to 1024"),
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


# (environment variable, bad value, what the one line must say: the setting and its range)
BAD_VALUES = [
    ("LIRA_K", "-1", "k must be an integer from 1 to 100 (LIRA_K=-1)"),
    ("LIRA_K", "0", "k must be an integer from 1 to 100 (LIRA_K=0)"),
    ("LIRA_K", "2.5", "k must be an integer from 1 to 100 (LIRA_K=2.5)"),
    ("LIRA_DEVICE", "junk", "device must be one of auto|cpu|cuda (LIRA_DEVICE=junk)"),
    ("LIRA_CHUNK_TOKENS", "0", "chunk_tokens must be an integer from 8 to 2048 (LIRA_CHUNK_TOKENS=0)"),
    ("LIRA_CHUNK_OVERLAP", "-1", "chunk_overlap must be an integer from 0"),
    ("LIRA_CHUNK_OVERLAP", "200", "chunk_overlap must be smaller than chunk_tokens (LIRA_CHUNK_OVERLAP=200"),
    ("LIRA_MAX_FILE_MB", "-1", "max_file_mb must be a number greater than 0"),
    ("LIRA_MAX_FILE_MB", "0", "max_file_mb must be a number greater than 0"),
    ("LIRA_MAX_FILE_MB", "inf", "max_file_mb must be a number greater than 0"),
    ("LIRA_MAX_NEW_TOKENS", "0", "max_new_tokens must be an integer from 1 to 4096"),
    ("LIRA_MAX_NEW_TOKENS", "4097", "max_new_tokens must be an integer from 1 to 4096"),
    ("LIRA_TEMPERATURE", "-3", "temperature must be a number from 0.05 to 2"),
    ("LIRA_CHAT_QUANTIZATION", "2bit", "chat.quantization must be one of none|8bit|4bit"),
    ("LIRA_POEM_QUANTIZATION", "", "poem.quantization must be one of none|8bit|4bit"),
    ("LIRA_EMBEDDER", " ", "embedder must be a model reference"),
    ("LIRA_DEBUG", "junk", "debug must be true or false (also yes/no, on/off, 1/0) (LIRA_DEBUG=junk)"),
    ("LIRA_CHECK", "2", "check must be true or false"),
    ("LIRA_INDEX_NAME", "../../x", "index_name must be a plain name"),
    ("LIRA_INDEX_NAME", "a\nb", "index_name must be a plain name"),
]


@pytest.mark.parametrize("env,value,needle", BAD_VALUES)
def test_bad_values_name_the_setting_and_its_range(lira_home, monkeypatch, env, value, needle):
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert needle in str(info.value) and env in str(info.value)
    assert "\n" not in str(info.value)


def test_a_bad_value_on_the_command_line_is_named_too(lira_home):
    with pytest.raises(SettingsError, match=r"^k must be an integer from 1 to 100 \(k = 0 on the command line\)$"):
        load_settings({"k": 0})


def test_overlap_against_tokens_names_where_each_came_from(lira_home, monkeypatch):
    lira_home.mkdir(parents=True)
    (lira_home / "lira.toml").write_text("chunk_tokens = 64\n", encoding="utf-8")
    monkeypatch.setenv("LIRA_CHUNK_OVERLAP", "64")
    with pytest.raises(SettingsError, match=r"LIRA_CHUNK_OVERLAP=64; chunk_tokens = 64 in .*lira.toml"):
        load_settings()
    monkeypatch.setenv("LIRA_CHUNK_OVERLAP", "63")
    assert (load_settings().chunk_tokens, load_settings().chunk_overlap) == (64, 63)


@pytest.mark.parametrize("word,value", [("true", True), ("YES", True), ("1", True), ("on", True),
                                        ("false", False), ("No", False), ("0", False), ("off", False)])
def test_boolean_words(lira_home, monkeypatch, word, value):
    monkeypatch.setenv("LIRA_DEBUG", word)
    assert load_settings().debug is value


def test_values_at_the_ends_of_their_ranges_are_taken(lira_home, monkeypatch):
    for env, value in [("LIRA_K", "100"), ("LIRA_MAX_NEW_TOKENS", "4096"), ("LIRA_DEVICE", "cuda"),
                       ("LIRA_CHUNK_TOKENS", "8"), ("LIRA_CHUNK_OVERLAP", "0"), ("LIRA_MAX_FILE_MB", "0.5"),
                       ("LIRA_CHAT_QUANTIZATION", "4bit"), ("LIRA_TEMPERATURE", "2")]:
        monkeypatch.setenv(env, value)
    settings = load_settings()
    assert (settings.k, settings.max_new_tokens, settings.device, settings.chunk_tokens) == (100, 4096, "cuda", 8)
    assert (settings.max_file_mb, settings.chat.quantization, settings.temperature) == (0.5, "4bit", 2.0)


@pytest.mark.parametrize("name", ["стихи-1", "default", "Корпус_2024.v2", "a", "-x", "ё" * 64])
def test_plain_index_names_stay_in_the_indexes_folder(lira_home, name):
    settings = load_settings({"index_name": name})
    assert settings.index_dir().parent == lira_home / "indexes"
    assert settings.index_dir(name).name == name


@pytest.mark.parametrize("name", ["..", ".", "../x", "../../x", "/tmp/x", "a/b", "a\\b", ".hidden", "a\x00b",
                                  "a b", "x" * 65, "~", "a\nb", "C:x"])
def test_other_index_names_are_refused(lira_home, name):
    settings = load_settings()
    with pytest.raises(SettingsError, match="index name .* is not allowed: it must be a plain name") as info:
        settings.index_dir(name)
    assert "\n" not in str(info.value)
    with pytest.raises(SettingsError, match="^index_name must be a plain name"):
        load_settings({"index_name": name})
    assert not (lira_home / "indexes").exists()


def test_a_decomposed_cyrillic_name_is_the_composed_folder(lira_home):
    import unicodedata

    settings = load_settings()
    decomposed = unicodedata.normalize("NFD", "йод")
    assert decomposed != "йод" and settings.index_dir(decomposed).name == "йод"


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


def test_the_tuis_index_command_refuses_such_a_name_as_one_line(lira_home, tiny_embedder_dir, docs, tmp_path):
    """`/index PATH NAME` in the app: the job ends with the one-line error, nothing is made."""
    from assistant.chat.backend import ChatBackend
    from assistant.tui.jobs import IndexEnded, index_job

    posted = []
    before = sorted(tmp_path.rglob("*"))
    settings = load_settings({"embedder": str(tiny_embedder_dir)})
    index_job(ChatBackend(settings), docs, "../../escaped", "auto", posted.append)
    ended = posted[-1]
    assert isinstance(ended, IndexEnded) and ended.summary is None
    assert "must be a plain name" in ended.error and "\n" not in ended.error
    assert sorted(tmp_path.rglob("*")) == before


def test_decoding_presets_from_toml_env_and_the_command_line(lira_home, monkeypatch):
    from assistant.settings import with_flags

    lira_home.mkdir(parents=True)
    (lira_home / "lira.toml").write_text("[decoding]\nnum_beams = 4\ntemperature = 0.2\n",
                                         encoding="utf-8")
    monkeypatch.setenv("LIRA_DECODING_TOP_K", "30")
    settings = load_settings()
    # the seed 001 decoding: 4 beams, temperature 0.2, top-k 30 (sampling implied)
    assert settings.decoding.overrides() == {"do_sample": True, "temperature": 0.2, "top_k": 30,
                                             "num_beams": 4}
    greedy = with_flags(settings, {"decoding.do_sample": False, "decoding.num_beams": None})
    assert greedy.decoding.overrides()["do_sample"] is False and greedy.decoding.num_beams == 4
    assert settings.decoding.do_sample is None  # the copy is changed, not the original
    with pytest.raises(SettingsError, match=r"decoding.top_p must be a number greater than 0 and at most 1 "
                                            r"\(decoding.top_p = 1.5 on the command line\)"):
        with_flags(settings, {"decoding.top_p": 1.5})
    monkeypatch.setenv("LIRA_DECODING_NUM_BEAMS", "three")
    with pytest.raises(SettingsError, match="decoding.num_beams must be an integer from 1 to 16"):
        load_settings()
