"""``lira-adapter.json``: what an adapter was trained on and how, and the base's fingerprint.

The fingerprint names a base model by its architecture (model type, vocabulary,
widths, depth) plus a hash of those architecture settings.  It survives the
things that legitimately differ between two loads of the same base (its
folder, dtype, 8-bit or 4-bit loading, the transformers version) and tells
apart bases an adapter cannot work with.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from adapters.errors import AdapterFolderError, AdapterMismatchError

MANIFEST_FILE = "lira-adapter.json"
MANIFEST_VERSION = 1

# Config keys that fix an architecture's shape, under their various names.
_HIDDEN = ("hidden_size", "d_model", "n_embd")
_LAYERS = ("num_hidden_layers", "num_layers", "n_layer")
_SHAPE_KEYS = ("model_type", "vocab_size", "hidden_size", "d_model", "n_embd",
               "num_hidden_layers", "num_layers", "n_layer", "num_decoder_layers",
               "num_attention_heads", "num_heads", "n_head", "num_key_value_heads",
               "intermediate_size", "d_ff", "n_inner", "d_kv", "head_dim",
               "max_position_embeddings", "n_positions", "is_encoder_decoder",
               "tie_word_embeddings")


def base_fingerprint(config: Any) -> dict[str, Any]:
    """The fingerprint of a transformers config (or a config.json dict)."""
    values = config if isinstance(config, dict) else config.to_dict()
    shape = {key: values[key] for key in _SHAPE_KEYS if values.get(key) is not None}
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode("utf-8")).hexdigest()
    return {"model_type": values.get("model_type"), "vocab_size": values.get("vocab_size"),
            "hidden_size": _first(values, _HIDDEN), "layers": _first(values, _LAYERS),
            "config_sha256": digest[:16]}


def folder_fingerprint(folder: Path) -> dict[str, Any]:
    """The fingerprint of the model in ``folder``, from its config (offline, no remote code)."""
    from transformers import AutoConfig

    return base_fingerprint(AutoConfig.from_pretrained(str(folder), local_files_only=True,
                                                       trust_remote_code=False))


def describe_fingerprint(fingerprint: dict[str, Any]) -> str:
    """A fingerprint in a few words, for messages."""
    return (f"{fingerprint.get('model_type')}, vocabulary {fingerprint.get('vocab_size')}, "
            f"width {fingerprint.get('hidden_size')}, {fingerprint.get('layers')} layers")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of an adapter folder, or None when it has none."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterFolderError(f"{path} is not valid JSON ({exc}); re-train or re-copy "
                                 "the adapter") from exc
    if not isinstance(manifest, dict):
        raise AdapterFolderError(f"{path} is not a JSON object; re-train or re-copy the adapter")
    problem = _shape_problem(manifest, _SHAPE, "")
    if problem:
        raise AdapterFolderError(f"{path} is not an adapter manifest ({problem}); "
                                 "re-train or re-copy the adapter")
    return manifest


# The keys Lira reads from a manifest and their types (None is allowed for each): a
# nested dict is an object with its own keys.  Keys not named here are not checked.
_NUMBER = (int, float)
_SHAPE: dict[str, Any] = {
    "lira_adapter": int, "method": str, "created": str, "task": str, "labels": list,
    "base": {"reference": str, "path": str, "seq2seq": bool, "quantization": str,
             "fingerprint": {"model_type": str, "vocab_size": int, "hidden_size": int,
                             "layers": int, "config_sha256": str}},
    "hyperparameters": {"max_length": int},
    "data": {"options": {"holdout_per_author": int, "poem_max_tokens": int}},
    "result": {"train_loss": _NUMBER, "eval_loss": _NUMBER, "test_accuracy": _NUMBER,
               "test_per_set": dict},
}
_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "true or false"}


def _shape_problem(value: dict[str, Any], shape: dict[str, Any], where: str) -> str | None:
    """What in ``value`` does not have the type ``shape`` gives it, or None."""
    for key, expected in shape.items():
        item = value.get(key)
        if item is None:
            continue
        wanted = dict if isinstance(expected, dict) else expected
        wanted = wanted if isinstance(wanted, tuple) else (wanted,)
        # JSON true/false are Python ints: not a number where a number is wanted.
        if not isinstance(item, wanted) or (isinstance(item, bool) and bool not in wanted):
            return (f"'{where}{key}' is {_TYPE_NAMES.get(type(item), type(item).__name__)}, "
                    f"not {_TYPE_NAMES[float if float in wanted else wanted[0]]}")
        if isinstance(expected, dict):
            problem = _shape_problem(item, expected, f"{where}{key}.")
            if problem:
                return problem
    return None


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` into ``folder`` and return its path."""
    path = Path(folder) / MANIFEST_FILE
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def check_base(manifest: dict[str, Any], actual: dict[str, Any], adapter: Path) -> None:
    """Refuse an adapter whose manifest records a base other than the ``actual`` fingerprint."""
    recorded = (manifest.get("base") or {}).get("fingerprint")
    if not isinstance(recorded, dict):
        return  # a manifest without a fingerprint cannot be checked: peft's own checks remain
    if recorded.get("config_sha256") == actual["config_sha256"]:
        return
    reference = (manifest.get("base") or {}).get("reference") or "another model"
    raise AdapterMismatchError(
        f"adapter {adapter} was trained on {reference} ({describe_fingerprint(recorded)}), "
        f"not on this base ({describe_fingerprint(actual)}); load it with its own base model "
        "or train an adapter for this one")


def _first(values: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((values[k] for k in keys if values.get(k) is not None), None)


def adapter_role(manifest: dict[str, Any]) -> str:
    """What an adapter was trained for, from its manifest: "nli" (entailment), "poem"
    (trained on poems) or "chat" (instructions, SQuAD and the rest)."""
    if manifest.get("task") == "nli":
        return "nli"
    data_format = str((manifest.get("data") or {}).get("format") or "")
    return "poem" if "poems" in data_format.split("+") else "chat"
