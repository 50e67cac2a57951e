"""The Hugging Face Hub: `lira models pull`, the one thing in Lira that goes online.

A pull downloads only the files a model needs (configs, tokenizer files, weights:
safetensors when the revision has them, else pickle .bin) into the standard Hugging
Face cache, where other tools find them too.  huggingface_hub writes each file as a
``.incomplete`` blob first and renames it when whole, so an interrupted pull loses
nothing and the same command resumes it.  The cache is also listed and pruned here.
Every failure is a one-line HubError that says what to do.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from assistant.errors import LiraError
from assistant.runtime.hub_blobs import fetch_blob, repo_folder
from assistant.runtime.models import reference_is_not_repo_id

CONFIG_FILES = ("config.json", "generation_config.json", "modules.json",
                "sentence_bert_config.json", "config_sentence_transformers.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "spiece.model", "tokenizer.model", "vocab.*", "merges.txt",
                   "added_tokens.json", "sentencepiece*.model", "chat_template.jinja",
                   "chat_template.json")
SAFETENSORS = ("*.safetensors", "*.safetensors.index.json")
PICKLES = ("pytorch_model*.bin", "pytorch_model.bin.index.json")
GGUF = ("*.gguf",)


class HubError(LiraError):
    """A pull, a listing or a removal failed; the message says what to do."""


@dataclass(frozen=True)
class Pulled:
    """A finished pull: where the snapshot lies and what it holds."""

    repo_id: str
    revision: str
    commit: str
    path: Path
    files: tuple[str, ...]
    downloaded: int  # bytes fetched by this pull (0 when everything was already cached)


@dataclass(frozen=True)
class CachedModel:
    """One model repository in the Hugging Face cache."""

    repo_id: str
    size: int  # bytes on disk, all revisions together
    files: int
    refs: tuple[str, ...]  # branch or tag names that point at a cached revision
    path: Path


def choose_files(names: list[str], quant: str = "q4_k_m") -> list[str]:
    """The files of a repository that a model needs: configs and tokenizer files, and one
    kind of weights (safetensors when there are any, else pytorch_model*.bin), at the top
    level and in sentence-transformers' module folders (1_Pooling/, 2_Dense/ ...).  A
    repository of GGUF files only (one per quantisation, each the whole model) gives the
    one whose name holds ``quant``."""
    top = _by_folder(names)[""]
    if not _weights(top) and any(_matches(n, GGUF) for n in top):
        return [_one_gguf([n for n in top if _matches(n, GGUF)], quant)]
    chosen = []
    for folder, files in _by_folder(names).items():
        weights = _weights(files)
        if folder == "" and not weights:
            raise HubError("no weights Lira can load (*.safetensors or pytorch_model*.bin) "
                           f"among {len(names)} files ({_sample(names)})")
        picked = [n for n in files if _matches(n, CONFIG_FILES + TOKENIZER_FILES)] + weights
        chosen += [f"{folder}/{n}" if folder else n for n in sorted(set(picked))]
    return chosen


def _one_gguf(files: list[str], quant: str) -> str:
    if len(files) == 1:
        return files[0]
    chosen = [f for f in files if quant.lower() in f.lower()]
    if len(chosen) != 1:
        raise HubError(f"{len(files)} GGUF files ({_sample(sorted(files))}) and "
                       f"{'none' if not chosen else 'several'} named {quant}; pass --quant "
                       "with a part of one name")
    return chosen[0]


def _by_folder(names: list[str]) -> dict[str, list[str]]:
    """The top level and sentence-transformers module folders ('1_Pooling'), file names by folder."""
    folders: dict[str, list[str]] = {"": []}
    for name in names:
        path = PurePosixPath(name)
        parent = str(path.parent) if path.parent != PurePosixPath(".") else ""
        if parent == "" or (parent.split("_")[0].isdigit() and "/" not in parent):
            folders.setdefault(parent, []).append(path.name)
    return folders


def _weights(files: list[str]) -> list[str]:
    safetensors = [n for n in files if _matches(n, SAFETENSORS)]
    models = [n for n in safetensors if n.startswith("model")]
    # "consolidated.safetensors" beside model-0000x-of-0000y.safetensors repeats the weights
    return models or safetensors or [n for n in files if _matches(n, PICKLES)]


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _sample(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


@contextmanager
def online() -> Iterator[None]:
    """Let huggingface_hub reach the Hub for this block only, at HF_ENDPOINT as it is now (a
    mirror, or a test's stand-in Hub).  The library reads both HF_HUB_OFFLINE, which Lira
    sets for every other command (runtime.offline), and HF_ENDPOINT once, at import."""
    from huggingface_hub import constants

    names = ("HF_HUB_OFFLINE", "ENDPOINT", "HUGGINGFACE_CO_URL_TEMPLATE")
    before = {name: getattr(constants, name) for name in names}
    constants.HF_HUB_OFFLINE = False
    endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/")
    if endpoint:
        constants.ENDPOINT = endpoint
        constants.HUGGINGFACE_CO_URL_TEMPLATE = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(constants, name, value)


def pull(repo_id: str, revision: str | None = None, quant: str = "q4_k_m") -> Pulled:
    """Download what ``repo_id`` at ``revision`` (a branch, tag or commit; default main)
    needs into the Hugging Face cache, resuming whatever an earlier pull left; of a
    repository of GGUF files, the one of quantisation ``quant``."""
    if reference_is_not_repo_id(repo_id):
        raise HubError(f"'{repo_id}' is not a Hugging Face id (owner/name, as in "
                       "ai-forever/ruT5-large)")
    revision = revision or "main"
    try:
        with online():
            return _pull(repo_id, revision, quant)
    except LiraError:
        raise
    except Exception as exc:
        problem = explain(exc, repo_id, revision)
        if problem is None:
            raise
        raise HubError(problem) from exc


def _pull(repo_id: str, revision: str, quant: str) -> Pulled:
    from huggingface_hub import HfApi, hf_hub_download

    info = HfApi().model_info(repo_id, revision=revision, files_metadata=True)
    sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
    try:
        files = choose_files(sorted(sizes), quant)
    except HubError as exc:
        raise HubError(f"{repo_id} ({revision}): {exc}; pick another model or revision "
                       "(--revision)") from None
    cache = _hub_cache()
    missing = sum(sizes[f] for f in files if not (cache_snapshot(repo_id, info.sha) / f).is_file())
    _check_space(cache, missing, repo_id, revision)
    for name in files:
        fetch_blob(repo_id, name, info.sha, cache, FileBar)  # resumable, checked
        # links the blob into the snapshot and records refs/<revision>, so that
        # `lira --model ID` finds the snapshot offline
        hf_hub_download(repo_id, name, revision=revision, cache_dir=cache)
    return Pulled(repo_id, revision, info.sha, cache_snapshot(repo_id, info.sha),
                  tuple(files), missing)


def _hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def cache_snapshot(repo_id: str, commit: str) -> Path:
    """The cache folder of one commit of a model repository."""
    return repo_folder(_hub_cache(), repo_id) / "snapshots" / commit


def _check_space(cache: Path, needed: int, repo_id: str, revision: str) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(cache).free
    if needed > free:
        raise HubError(f"{repo_id} ({revision}) needs {human_size(needed)} but {cache} has "
                       f"{human_size(free)} free; free some space (lira models rm ID) and re-run")


def explain(exc: BaseException, repo_id: str, revision: str) -> str | None:
    """One line that says what went wrong in a pull and what to do; None for a bug."""
    import httpx2
    from huggingface_hub import errors

    again = f"then re-run `lira models pull {repo_id}` to resume"
    if isinstance(exc, errors.GatedRepoError):
        return (f"{repo_id} is gated: accept its terms on huggingface.co, log in with "
                "`hf auth login`, and re-run")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return (f"no model repository '{repo_id}' on the Hub: check the id; if it is private, "
                "log in with `hf auth login` first")
    if isinstance(exc, errors.RevisionNotFoundError):
        return f"{repo_id} has no branch, tag or commit '{revision}': check --revision"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"the disk is full ({_hub_cache()}): free some space, {again}"
    if isinstance(exc, (httpx2.TransportError, errors.LocalEntryNotFoundError,
                        errors.HfHubHTTPError)) or "Consistency check failed" in str(exc):
        return f"the download of {repo_id} failed ({_first_line(exc)}): check the network, {again}"
    return None


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class FileBar(tqdm):
    """A tqdm bar per file on stderr, shown on a terminal only: huggingface_hub's own bars
    obey HF_HUB_DISABLE_PROGRESS_BARS, which Lira sets for every command (runtime.offline)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("disable", None)  # None: off when stderr is not a terminal
        super().__init__(*args, **kwargs)


def cached_models() -> list[CachedModel]:
    """The model repositories in the Hugging Face cache, largest first."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        repos = scan_cache_dir(_hub_cache()).repos
    except CacheNotFound:
        return []
    models = [CachedModel(r.repo_id, r.size_on_disk, r.nb_files, tuple(sorted(r.refs)),
                          r.repo_path) for r in repos if r.repo_type == "model"]
    return sorted(models, key=lambda m: (-m.size, m.repo_id))


def remove(repo_id: str) -> int:
    """Delete ``repo_id`` from the Hugging Face cache, every revision and unfinished
    download of it (scan_cache_dir skips a folder that holds only those); the bytes freed."""
    folder = repo_folder(_hub_cache(), repo_id)
    if reference_is_not_repo_id(repo_id) or not folder.is_dir():
        raise HubError(f"'{repo_id}' is not in the Hugging Face cache ({_hub_cache()}); "
                       "`lira models cached` lists what is")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    shutil.rmtree(folder)
    return size


def human_size(size: float) -> str:
    """1536 -> '1.5 KB': sizes for people."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"

