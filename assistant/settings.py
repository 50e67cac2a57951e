"""Lira's one settings object and where its values come from.

Precedence, highest first: CLI flags, environment (``LIRA_*``), ``lira.toml``
in ``LIRA_HOME``, built-in defaults.  Every key has a dotted name
(``chat.model``) that maps to a TOML table entry (``[chat] model = ...``) and
to an environment variable (``LIRA_CHAT_MODEL``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import SettingsError

HOME_ENV = "LIRA_HOME"
CONFIG_NAME = "lira.toml"

# Bundled names; assistant.runtime.models resolves them to prepared folders.
DEFAULT_GENERATOR = "gemma-3-270m"
DEFAULT_EMBEDDER = "multilingual-e5-small"


@dataclass
class ModelProfile:
    """A base model plus an optional PEFT adapter, used for one job."""

    model: str = DEFAULT_GENERATOR
    # auto: the adapter bundled for this profile when it fits the model (assistant.runtime.adapter_choice)
    adapter: str | None = "auto"
    quantization: str = "none"  # none | 8bit | 4bit (bitsandbytes)
    # the OpenAI-compatible server behind a model reference "openai:MODEL" (issue 16)
    base_url: str | None = None
    # what runs a local model: auto (llama.cpp for a model given as GGUF, transformers for
    # the rest) | llama.cpp | transformers (assistant.runtime.engines)
    engine: str = "auto"
    gguf_quant: str = "q4_k_m"  # which GGUF of a folder holding several (a part of its name)


@dataclass
class ServeSettings:
    """`lira serve`: where it listens and what one request may ask for."""

    host: str = "127.0.0.1"  # any other address needs an api_key
    port: int = 8000
    max_request_kb: int = 256  # a request body larger than this is refused (413)
    max_tokens: int = 1024  # the most new tokens one completion may ask for
    max_k: int = 20  # the most passages one answer may retrieve
    max_inputs: int = 256  # the most texts one /v1/embeddings request may embed


@dataclass
class DecodingSettings:
    """How answers are decoded (`lira ask`, the chat's documents and chat modes); None keeps
    the answer preset's value (greedy, repetition penalty 1.1: assistant.runtime.presets).

    Setting temperature, top_k or top_p turns sampling on unless do_sample says otherwise;
    num_beams > 1 is beam search (beam sampling with do_sample), shown when it ends.
    """

    do_sample: bool | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    num_beams: int | None = None

    def overrides(self) -> dict[str, Any]:
        """The preset fields these settings change (assistant.runtime.presets.Preset)."""
        changes = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if self.do_sample is None and any(changes[k] is not None for k in ("temperature", "top_k", "top_p")):
            changes["do_sample"] = True
        return {k: v for k, v in changes.items() if v is not None}


@dataclass
class SpeedSettings:
    """Generation speed-ups; each one that can change numbers can be turned off.

    bench/generation.py measures them; see the README's performance section.
    """

    # threads a local model computes with (0: every core this process may use).  Fewer when
    # other jobs share the cores: llama.cpp's threads wait spinning, so with one core taken
    # its decode can fall to a fraction of its speed.
    threads: int = 0
    merge_adapter: bool = True  # fold a LoRA/IA3 adapter into the weights (llama.cpp: a GGUF copy)
    output_subset: bool = True  # CPU: logits only for the tokens Russian needs (vocab_subset)
    # CPU: that subset in int8 with its 64 best logits recomputed in float32 (restricted_head):
    # a quarter of the output layer's memory and reading time; the top logits stay exact.
    output_int8: bool = True
    # CPU: smoothed int8 weights for the decoder layers (assistant.runtime.cpu.int8_layers).  Off: 1.2x the
    # decode speed, but the chat adapter's exact match fell 27.3 -> 24.2 on 132 held-out questions.
    int8: bool = False
    reuse_cache: bool = True  # reuse the previous turn's keys/values for a shared prefix
    # CPU, Gemma 3: Lira's own one-token step and decode loop instead of model.generate
    # (assistant.runtime.cpu.gemma_step, assistant.runtime.decode_loop); logits agree with transformers' to ~3e-5.
    lean_decode: bool = True

    @classmethod
    def off(cls, **on: bool) -> SpeedSettings:
        """Every speed-up off, except those named in ``on``."""
        return cls(**{name: on.get(name, False) for name in cls.__dataclass_fields__})


@dataclass
class Settings:
    """Everything Lira can be configured with; passed around, never global."""

    home: Path = field(default_factory=lambda: default_home())
    chat: ModelProfile = field(default_factory=ModelProfile)
    poem: ModelProfile = field(default_factory=ModelProfile)
    speed: SpeedSettings = field(default_factory=SpeedSettings)
    decoding: DecodingSettings = field(default_factory=DecodingSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    embedder: str = DEFAULT_EMBEDDER
    embedder_base_url: str | None = None  # the server behind embedder = "openai:MODEL"
    # the bearer token for OpenAI-compatible servers Lira calls, and that `lira serve` requires
    api_key: str | None = None
    device: str = "auto"  # auto | cpu | cuda
    index_name: str = "default"
    k: int = 4
    check: bool = True  # judge each RAG answer against its sources (assistant.grounding)
    nli: str | None = "auto"  # the entailment model of those checks; see assistant.grounding.entailment
    # what a checked answer's unsupported sentences get: mark (the badge only), drop (removed,
    # never all of them) or retry (one more answer with the evidence quoted; the better-checked
    # one kept): Engine.checked.  mark: bench/answer_repair.py on 132 held-out XQuAD questions,
    # retry kept 13 second tries, EM 26.5 -> 25.0, wrong answers with a green badge 44% -> 53%
    on_unsupported: str = "mark"
    max_new_tokens: int = 256
    temperature: float = 0.8
    # bench/retrieval.py --sweep 120,200,320 (XQuAD + 2 MB of RusLit): hybrid R@5 0.984 /
    # 0.986 / 0.986; 200 ties the best while keeping the passages in a prompt short.
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    max_file_mb: float = 50.0
    max_text_chars: int = 10_000_000  # extracted text indexed per document (index.ingest)
    model_cache: Path | None = None  # default: LIRA_HOME/models
    debug: bool = False

    @property
    def models_dir(self) -> Path:
        """Where bundled models are prepared and kept."""
        return self.model_cache or self.home / "models"

    @property
    def indexes_dir(self) -> Path:
        """Where named indexes live, one folder each."""
        return self.home / "indexes"

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_NAME

    def index_dir(self, name: str | None = None) -> Path:
        """The folder of index ``name`` (the configured default if None), always directly
        inside indexes_dir: a name that is not a plain one (check_index_name) is a SettingsError."""
        return self.indexes_dir / check_index_name(name or self.index_name)


INDEX_NAME_MAX = 64
INDEX_NAME_RULE = (f"a plain name of 1 to {INDEX_NAME_MAX} letters (Cyrillic too), digits, '-', '_' or '.', "
                   "not starting with '.' and without '/' or '\\'")
_INDEX_NAME = re.compile(r"[\w-][\w.-]*")  # \w: letters and digits of every script, and '_'


def is_index_name(name: Any) -> bool:
    """Whether ``name`` is a plain index name (INDEX_NAME_RULE): a folder name that stays
    inside indexes_dir, never '.', '..', an absolute path or one with separators."""
    if not isinstance(name, str):
        return False
    name = unicodedata.normalize("NFC", name)
    return len(name) <= INDEX_NAME_MAX and _INDEX_NAME.fullmatch(name) is not None


def check_index_name(name: str) -> str:
    """``name`` (NFC-normalised) when it is a plain index name, else a one-line SettingsError."""
    if not is_index_name(name):
        raise SettingsError(f"index name {_shown(name, quoted=True)} is not allowed: it must be {INDEX_NAME_RULE}")
    return unicodedata.normalize("NFC", name)


def default_home() -> Path:
    """The platform's user data dir for Lira (e.g. ~/.local/share/lira)."""
    from platformdirs import user_data_path

    return user_data_path("lira", appauthor=False)


def with_flags(settings: Settings, flags: Mapping[str, Any]) -> Settings:
    """A copy of ``settings`` with a command's own flags (dotted keys; None: not given)
    applied over every layer, checked as the root's flags are."""
    settings = copy.deepcopy(settings)
    given = {k: v for k, v in flags.items() if v is not None}
    _apply(settings, given, _on_command_line, {})
    return settings


def load_settings(flags: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from defaults, lira.toml, the environment and flags.

    ``flags`` uses dotted keys (``"chat.adapter"``); None values are ignored so
    that unset CLI options fall through to lower layers.
    """
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    settings = Settings()
    home = flags.get("home") or environ.get(HOME_ENV)
    if home:
        settings.home = Path(home).expanduser()
    config = settings.config_path
    sources: dict[str, str] = {}
    _apply(settings, _read_toml(config), lambda key, raw: f"{key} = {_shown(raw, quoted=True)} in {config}", sources)
    _apply(settings, _from_environ(environ), lambda key, raw: f"{env_name(key)}={_shown(raw)}", sources)
    _apply(settings, flags, _on_command_line, sources)
    for keys, holds, rule in CROSS_RULES:
        if not holds(settings):
            where = "; ".join(sources.get(key, f"{key} = {_shown(_value(settings, key))} by default")
                              for key in keys)
            raise SettingsError(f"{rule} ({where})")
    return settings


def _on_command_line(key: str, raw: Any) -> str:
    return f"{key} = {_shown(raw, quoted=True)} on the command line"


@dataclass(frozen=True)
class Rule:
    """What a setting's value may be: ``allowed`` says it in words for the error line."""

    allowed: str
    holds: Callable[[Any], bool]


def _integers(low: int, high: int) -> Rule:
    return Rule(f"an integer from {low} to {high}", lambda v: low <= v <= high)


def _numbers(low: float, high: float, low_open: bool = False) -> Rule:
    if low_open:
        return Rule(f"a number greater than {low:g} and at most {high:g}", lambda v: low < v <= high)
    return Rule(f"a number from {low:g} to {high:g}", lambda v: low <= v <= high)


def _one_of(*choices: str) -> Rule:
    return Rule("one of " + "|".join(choices), lambda v: v in choices)


_MODEL_REFERENCE = Rule("a model reference (bundled name, folder or Hugging Face id), not empty",
                        lambda v: bool(v.strip()))
_QUANTIZATION = _one_of("none", "8bit", "4bit")
_HTTP_URL = Rule("an http:// or https:// URL (e.g. http://localhost:11434/v1)",
                 lambda v: re.fullmatch(r"https?://[^\s/]+(/\S*)?", v) is not None)
BOOLEAN_WORDS = {"true": True, "yes": True, "on": True, "1": True,
                 "false": False, "no": False, "off": False, "0": False, "": False}
_BOOLEAN_ALLOWED = "true or false (also yes/no, on/off, 1/0)"

# The allowed values of each setting, checked as each layer (lira.toml, environment, flags)
# is applied; a setting not named here may hold any value of its type.
RULES: dict[str, Rule] = {
    "chat.model": _MODEL_REFERENCE,
    "chat.quantization": _QUANTIZATION,
    "poem.model": _MODEL_REFERENCE,
    "poem.quantization": _QUANTIZATION,
    "embedder": _MODEL_REFERENCE,
    "device": _one_of("auto", "cpu", "cuda"),
    "on_unsupported": _one_of("mark", "drop", "retry"),
    "index_name": Rule(INDEX_NAME_RULE, is_index_name),
    "k": _integers(1, 100),
    "max_new_tokens": _integers(1, 4096),
    "temperature": _numbers(0.05, 2.0),
    "chunk_tokens": _integers(8, 2048),  # index.chunking refuses fewer than 8
    "chunk_overlap": _integers(0, 2047),
    "max_file_mb": _numbers(0, 65536, low_open=True),
    "max_text_chars": _integers(1000, 2**31),
    "decoding.temperature": _numbers(0.05, 2.0),
    "decoding.top_k": _integers(0, 1000),
    "decoding.top_p": _numbers(0, 1, low_open=True),
    "decoding.repetition_penalty": _numbers(1.0, 2.0),
    "decoding.num_beams": _integers(1, 16),
    "chat.engine": _one_of("auto", "llama.cpp", "transformers"),
    "poem.engine": _one_of("auto", "llama.cpp", "transformers"),
    "chat.base_url": _HTTP_URL,
    "poem.base_url": _HTTP_URL,
    "embedder_base_url": _HTTP_URL,
    "speed.threads": _integers(0, 1024),
    "serve.port": _integers(1, 65535),
    "serve.max_request_kb": _integers(1, 65536),
    "serve.max_tokens": _integers(1, 4096),
    "serve.max_k": _integers(1, 100),
    "serve.max_inputs": _integers(1, 4096),
}
# Rules between settings, checked once every layer is applied: (keys, holds, rule in words).
CROSS_RULES: tuple[tuple[tuple[str, ...], Callable[[Settings], bool], str], ...] = (
    (("chunk_overlap", "chunk_tokens"), lambda s: s.chunk_overlap < s.chunk_tokens,
     "chunk_overlap must be smaller than chunk_tokens"),
)


def is_true(raw: Any) -> bool:
    """Whether ``raw`` is one of a boolean setting's true words; false words and anything
    else are False (load_settings reports a bad value as a SettingsError)."""
    return BOOLEAN_WORDS.get(str(raw).strip().lower(), False) if not isinstance(raw, bool) else raw


_SECTIONS = {"chat": ModelProfile, "poem": ModelProfile, "speed": SpeedSettings,
             "decoding": DecodingSettings, "serve": ServeSettings}


def setting_keys() -> list[str]:
    """All dotted keys, in declaration order."""
    keys: list[str] = []
    for f in dataclasses.fields(Settings):
        if f.name == "home":
            keys.append("home")
        elif f.name in _SECTIONS:
            keys += [f"{f.name}.{p.name}" for p in dataclasses.fields(_SECTIONS[f.name])]
        else:
            keys.append(f.name)
    return keys


def env_name(key: str) -> str:
    """``chat.model`` -> ``LIRA_CHAT_MODEL``."""
    return "LIRA_" + key.replace(".", "_").upper()


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    import tomllib  # a few ms of parser set-up that `lira --help` need not pay

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path} is not valid TOML ({exc}); fix or delete it") from exc
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            flat[key] = value
    return flat


def _from_environ(environ: Mapping[str, str]) -> dict[str, str]:
    return {key: environ[env_name(key)] for key in setting_keys()
            if key != "home" and env_name(key) in environ}


def _apply(settings: Settings, values: Mapping[str, Any], where: Callable[[str, Any], str],
           sources: dict[str, str]) -> None:
    """Set each of ``values`` (dotted keys) on ``settings``, checked against RULES; ``where``
    names a value's origin for the error line, and is kept per key in ``sources``."""
    known = set(setting_keys())
    for key, raw in values.items():
        if key == "home":
            continue
        if key not in known:
            raise SettingsError(f"unknown setting '{key}' ({where(key, raw)}); "
                                f"known: {', '.join(sorted(known))}")
        target, name = _target(settings, key)
        type_name = str(_field_type(target, name))
        rule = RULES.get(key)
        try:
            value = _coerce(raw, type_name)
        except (TypeError, ValueError):
            allowed = rule.allowed if rule else _TYPE_ALLOWED.get(type_name.split(" ")[0], type_name)
            raise SettingsError(f"{key} must be {allowed} ({where(key, raw)})") from None
        if rule and value is not None and not rule.holds(value):
            raise SettingsError(f"{key} must be {rule.allowed} ({where(key, raw)})")
        setattr(target, name, value)
        sources[key] = where(key, raw)


def _target(settings: Settings, key: str) -> tuple[Any, str]:
    if "." in key:
        profile, name = key.split(".", 1)
        return getattr(settings, profile), name
    return settings, key


def _field_type(obj: Any, name: str) -> str:
    return next(f.type for f in dataclasses.fields(obj) if f.name == name)


_TYPE_ALLOWED = {"bool": _BOOLEAN_ALLOWED, "int": "an integer", "float": "a number",
                 "str": "text", "Path": "a path"}


def _coerce(raw: Any, type_name: str) -> Any:
    """``raw`` (TOML value, environment text or flag) as a value of ``type_name``; ValueError
    when it is not one (a TOML number for a text setting, 1.5 or true for an integer...)."""
    if "None" in type_name and str(raw).lower() in ("", "none"):
        return None
    type_name = type_name.removesuffix(" | None")  # an optional setting holds its type
    if type_name == "bool":
        return _to_bool(raw)
    if type_name == "int":
        return _to_int(raw)
    if type_name == "float":
        return _to_float(raw)
    if type_name.startswith("Path"):
        return Path(_to_text(raw)).expanduser()
    return _to_text(raw)


def _to_text(raw: Any) -> str:
    if isinstance(raw, (str, Path)):
        return str(raw)
    raise ValueError(raw)


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if not isinstance(raw, (str, int)):
        raise ValueError(raw)
    text = str(raw).strip().lower()
    if text not in BOOLEAN_WORDS:
        raise ValueError(raw)
    return BOOLEAN_WORDS[text]


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ValueError(raw)
    if isinstance(raw, (int, float)):
        return int(raw)
    return int(_to_text(raw).strip())


def _to_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(raw)
    value = float(raw if isinstance(raw, (int, float)) else _to_text(raw).strip())
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def _value(settings: Settings, key: str) -> Any:
    target, name = _target(settings, key)
    return getattr(target, name)


def _shown(raw: Any, quoted: bool = False, limit: int = 60) -> str:
    """``raw`` for an error line: text as typed (``quoted``: in quotes) when short and
    printable, else quoted and cut; other values as Python writes them, cut."""
    if not isinstance(raw, str):
        text = repr(raw)
        return text if len(text) <= limit else text[:limit] + "..."
    if not quoted and raw and raw.isprintable() and len(raw) <= limit and raw.strip() == raw:
        return raw
    return repr(raw[:limit]) + ("..." if len(raw) > limit else "")
