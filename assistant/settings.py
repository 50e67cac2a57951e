"""Lira's one settings object and where its values come from.

Precedence, highest first: CLI flags, environment (``LIRA_*``), ``lira.toml``
in ``LIRA_HOME``, built-in defaults.  Every key has a dotted name
(``chat.model``) that maps to a TOML table entry (``[chat] model = ...``) and
to an environment variable (``LIRA_CHAT_MODEL``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
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


@dataclass
class SpeedSettings:
    """Generation speed-ups; each one that can change numbers can be turned off.

    bench/generation.py measures them; see the README's performance section.
    """

    merge_adapter: bool = True  # fold a LoRA/IA3 adapter into the weights at load
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
    embedder: str = DEFAULT_EMBEDDER
    device: str = "auto"  # auto | cpu | cuda
    index_name: str = "default"
    k: int = 4
    check: bool = True  # judge each RAG answer against its sources (assistant.grounding)
    nli: str | None = "auto"  # the entailment model of those checks; see assistant.grounding.entailment
    max_new_tokens: int = 256
    temperature: float = 0.8
    # bench/retrieval.py --sweep 120,200,320 (XQuAD + 2 MB of RusLit): hybrid R@5 0.984 /
    # 0.986 / 0.986; 200 ties the best while keeping the passages in a prompt short.
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    max_file_mb: float = 50.0
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
        """The folder of index ``name`` (the configured default if None)."""
        return self.indexes_dir / (name or self.index_name)


def default_home() -> Path:
    """The platform's user data dir for Lira (e.g. ~/.local/share/lira)."""
    from platformdirs import user_data_path

    return user_data_path("lira", appauthor=False)


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
    _apply(settings, _read_toml(settings.config_path), "lira.toml")
    _apply(settings, _from_environ(environ), "environment")
    _apply(settings, flags, "command line")
    return settings


_SECTIONS = {"chat": ModelProfile, "poem": ModelProfile, "speed": SpeedSettings}


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


def _apply(settings: Settings, values: Mapping[str, Any], origin: str) -> None:
    known = set(setting_keys())
    for key, raw in values.items():
        if key == "home":
            continue
        if key not in known:
            raise SettingsError(f"unknown setting '{key}' in {origin}; "
                                f"known: {', '.join(sorted(known))}")
        target, name = _target(settings, key)
        setattr(target, name, _coerce(raw, _field_type(target, name), key, origin))


def _target(settings: Settings, key: str) -> tuple[Any, str]:
    if "." in key:
        profile, name = key.split(".", 1)
        return getattr(settings, profile), name
    return settings, key


def _field_type(obj: Any, name: str) -> str:
    return next(f.type for f in dataclasses.fields(obj) if f.name == name)


def _coerce(raw: Any, type_name: Any, key: str, origin: str) -> Any:
    type_name = str(type_name)
    if "None" in type_name and str(raw).lower() in ("", "none"):
        return None
    try:
        if type_name == "bool":
            return _to_bool(raw)
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name.startswith("Path"):
            return Path(str(raw)).expanduser()
    except (TypeError, ValueError):
        raise SettingsError(f"setting '{key}' from {origin} must be {type_name}, "
                            f"got {raw!r}") from None
    return str(raw)


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(raw)
