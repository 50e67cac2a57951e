"""Checking an adapter folder and attaching it to a base model with peft.

Only safetensors weights are accepted: a pickle (``adapter_model.bin``) can
run arbitrary code when loaded, so such folders are refused outright.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.errors import AdapterFolderError, first_line
from adapters.manifest import base_fingerprint as fingerprint_of
from adapters.manifest import check_base, read_manifest
from adapters.stacked import INNER_FOLDER, has_inner

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PICKLE_FILES = ("adapter_model.bin", "adapter_model.pt", "adapter_model.pth")
KNOWN_TYPES = ("LORA", "IA3", "PROMPT_TUNING")


@dataclass(frozen=True)
class AdapterInfo:
    """What an adapter folder declares about itself."""

    path: Path
    peft_type: str
    task_type: str | None
    base_model: str | None
    config: dict[str, Any]


def inspect_adapter(path: Path) -> AdapterInfo:
    """Validate an adapter folder without loading any weights."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise AdapterFolderError(f"adapter folder {path} does not exist; check the path "
                                 "or use --adapter none")
    config = _read_config(path)
    if not (path / WEIGHTS_FILE).is_file():
        if any((path / name).exists() for name in PICKLE_FILES):
            raise AdapterFolderError(f"adapter {path} has pickle weights, which Lira refuses to "
                                     "load; re-save it with safetensors (save_pretrained)")
        raise AdapterFolderError(f"adapter {path} has no {WEIGHTS_FILE}; re-train or re-copy it")
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type not in KNOWN_TYPES:
        raise AdapterFolderError(f"adapter {path} has peft_type {peft_type or 'missing'}; "
                                 f"Lira loads {', '.join(KNOWN_TYPES)}")
    return AdapterInfo(path=path, peft_type=peft_type, task_type=config.get("task_type"),
                       base_model=config.get("base_model_name_or_path"), config=config)


def attach_adapter(model: Any, path: Path, adapter_name: str = "default",
                   base_fingerprint: dict[str, Any] | None = None) -> Any:
    """Wrap ``model`` in a PeftModel carrying the adapter in ``path``.

    An adapter trained by Lira carries its base's fingerprint (lira-adapter.json);
    it is compared with ``base_fingerprint`` (by default, that of ``model.config``)
    and a mismatch is refused before peft touches the model.  Adapters without a
    manifest load unchecked, as peft alone would load them.
    """
    from peft import PeftModel

    info = inspect_adapter(path)
    manifest = read_manifest(info.path)
    if manifest is not None:
        check_base(manifest, base_fingerprint or fingerprint_of(model.config), info.path)
    try:
        with warnings.catch_warnings():
            # peft calls transformers APIs that transformers 5 marks as deprecated.
            warnings.simplefilter("ignore", FutureWarning)
            if has_inner(info.path):  # LoRA beneath prompt tuning (adapters/stacked.py)
                model = _attach_inner(model, info)
            peft_model = PeftModel.from_pretrained(model, str(info.path), adapter_name=adapter_name,
                                                   is_trainable=False)
    except AdapterFolderError:
        raise
    except Exception as exc:  # peft and safetensors raise many unrelated types
        raise AdapterFolderError(_load_failure(info.path, exc)) from exc
    peft_model.eval()
    return peft_model


def _attach_inner(model: Any, outer: AdapterInfo) -> Any:
    """``model`` with the LoRA part of the ``outer`` adapter in its layers: a plain model again,
    not a PeftModel, for the prompt-tuning adapter to wrap."""
    from peft import PeftModel

    info = inspect_adapter(outer.path / INNER_FOLDER)
    if info.peft_type != "LORA" or info.task_type != outer.task_type:
        raise AdapterFolderError(f"{info.path} must be a LoRA adapter for the same task as "
                                 f"{outer.path}; re-train or re-copy the adapter")
    with warnings.catch_warnings():
        # "modify a model with PEFT for a second time": intended, the LoRA layers stay.
        warnings.simplefilter("ignore", UserWarning)
        inner = PeftModel.from_pretrained(model, str(info.path), is_trainable=False)
    return inner.get_base_model()



def _read_config(path: Path) -> dict[str, Any]:
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise AdapterFolderError(f"{path} is not an adapter folder (no {CONFIG_FILE})")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdapterFolderError(f"{config_path} is not valid JSON ({exc}); "
                                 "re-train or re-copy the adapter") from exc
    if not isinstance(config, dict):
        raise AdapterFolderError(f"{config_path} is not a JSON object; re-copy the adapter")
    return config


def _load_failure(path: Path, exc: Exception) -> str:
    if "safetensor" in type(exc).__module__.lower() or "header" in str(exc).lower():
        return f"adapter weights in {path} are damaged ({first_line(exc)}); re-train or re-copy them"
    return (f"adapter {path} does not fit this base model ({first_line(exc)}); "
            "use the base it was trained on")
