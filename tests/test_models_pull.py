"""`lira models pull / cached / rm` against a stand-in Hub on 127.0.0.1.

The stand-in is a real HTTP server in a thread that answers what huggingface_hub asks
of the Hub for a pull: the model info API (``/api/models/ID/revision/REV``) and
``/ID/resolve/REV/FILE`` (HEAD and GET, with ETag, X-Repo-Commit, Content-Length and
Range requests).  huggingface_hub is pointed at it with HF_ENDPOINT, and its cache at
a temporary folder; the tests' HF_HUB_OFFLINE=1 stays set, as a user's lira sets it.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import build_tiny_model, one_line_error

REPO_ID = "lira-test/tiny-gpt2"


@dataclass
class Branch:
    commit: str
    files: dict[str, bytes]


@dataclass
class StandInHub:
    """The repositories the server holds, and what it was asked."""

    repos: dict[str, dict[str, Branch]] = field(default_factory=dict)
    gated: set[str] = field(default_factory=set)
    drop: dict[str, int] = field(default_factory=dict)  # file -> bytes sent before dropping
    down: bool = False  # after a drop: every GET of a file is cut before any answer
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Range)
    url: str = ""

    def add(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        commit = hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()
        self.repos.setdefault(repo_id, {})[branch] = Branch(commit, files)
        return commit

    def gets(self, name: str) -> list[str]:
        """The Range headers of the GETs of one file ('' for a whole-file GET)."""
        return [r for m, p, r in self.log if m == "GET" and p.endswith("/" + name)]


def _handler(hub: StandInHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def _answer(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.log.append((self.command, path, self.headers.get("Range", "")))
            api = re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/(.+)", path)
            if api:
                return self._info(*api.groups())
            resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if resolve:
                return self._file(*resolve.groups(), body=body)
            self._error(404, "EntryNotFound")

        def _branch(self, repo_id: str, revision: str) -> Branch | None:
            if repo_id in hub.gated:
                return self._error(403, "GatedRepo")
            if repo_id not in hub.repos:
                return self._error(401, "RepoNotFound")
            branches = hub.repos[repo_id]
            by_commit = {b.commit: b for b in branches.values()}
            found = branches.get(revision) or by_commit.get(revision)
            if found is None:
                return self._error(404, "RevisionNotFound")
            return found

        def _info(self, repo_id: str, revision: str) -> None:
            branch = self._branch(repo_id, revision)
            if branch is None:
                return
            siblings = [{"rfilename": n, "size": len(d)} for n, d in sorted(branch.files.items())]
            data = json.dumps({"id": repo_id, "modelId": repo_id, "sha": branch.commit,
                               "private": False, "siblings": siblings}).encode()
            self._send(200, {"Content-Type": "application/json"}, data)

        def _file(self, repo_id: str, revision: str, name: str, body: bool) -> None:
            branch = self._branch(repo_id, revision)
            if branch is None:
                return
            if name not in branch.files:
                return self._error(404, "EntryNotFound", branch.commit)
            data = branch.files[name]
            headers = {"ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                       "X-Repo-Commit": branch.commit, "Accept-Ranges": "bytes"}
            if not body:
                return self._send(200, {**headers, "Content-Length": str(len(data))}, b"",
                                  length=len(data))
            if hub.down:
                return self.connection.close()  # the network is gone: no answer at all
            start = int(re.match(r"bytes=(\d+)-", self.headers.get("Range") or "bytes=0-")[1])
            status = 206 if start else 200
            if start:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            part = data[start:]
            if name in hub.drop:  # send the headers and some bytes, then cut the line
                cut = hub.drop.pop(name)
                self._send(status, {**headers, "Content-Length": str(len(part))}, part[:cut])
                hub.down = True
                self.close_connection = True
                return
            self._send(status, {**headers, "Content-Length": str(len(part))}, part)

        def _error(self, status: int, code: str, commit: str | None = None) -> None:
            headers = {"X-Error-Code": code, "Content-Type": "application/json"}
            if commit:
                headers["X-Repo-Commit"] = commit
            self._send(status, headers, json.dumps({"error": code}).encode())

        def _send(self, status: int, headers: dict[str, str], data: bytes,
                  length: int | None = None) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(data) if length is None else length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A stand-in Hub on 127.0.0.1 and an empty Hugging Face cache."""
    from huggingface_hub import constants

    state = StandInHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", state.url)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as the tests and lira set it
    monkeypatch.setattr("huggingface_hub.file_download.time.sleep", lambda seconds: None)
    # a tiny model is one 10 MB chunk: smaller ones let a cut download keep some bytes
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory) -> dict[str, bytes]:
    """A tiny GPT-2 folder's files, plus what a Hub repo has and a model does not need."""
    folder = build_tiny_model("gpt2", tmp_path_factory.mktemp("tiny-repo"))
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    files.update({"README.md": b"# tiny\n", "onnx/model.onnx": b"onnx" * 100,
                  "flax_model.msgpack": b"flax" * 100, ".gitattributes": b"*.bin lfs\n"})
    return files


def hub_cache() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def snapshot(hub: StandInHub, commit: str) -> Path:
    return Path(hub_cache()) / "models--lira-test--tiny-gpt2" / "snapshots" / commit


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pull_takes_only_what_a_model_needs(hub, tiny_repo, run):
    commit = hub.add(REPO_ID, tiny_repo)
    code, out, err = run("models", "pull", REPO_ID)
    assert code == 0, err
    got = {p.name for p in snapshot(hub, commit).iterdir()}
    assert "model.safetensors" in got and "config.json" in got and "tokenizer.json" in got
    assert not got & {"README.md", "onnx", "flax_model.msgpack", ".gitattributes"}
    assert got == {n for n in tiny_repo if "/" not in n} - {"README.md", "flax_model.msgpack",
                                                            ".gitattributes"}
    assert f"{REPO_ID} (main, {commit[:12]})" in out
    assert not [p for p in hub.log if "onnx" in p[1] or "README" in p[1]]


def test_safetensors_preferred_and_revision_names_a_branch(hub, tiny_repo, run):
    hub.add(REPO_ID, {"config.json": b"{}", "pytorch_model.bin": b"old"})
    commit = hub.add(REPO_ID, {**tiny_repo, "pytorch_model.bin": b"pickle" * 50}, branch="dev")
    code, out, err = run("models", "pull", REPO_ID, "--revision", "dev", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert done["commit"] == commit and done["revision"] == "dev"
    assert "model.safetensors" in done["files"] and "pytorch_model.bin" not in done["files"]
    assert not hub.gets("pytorch_model.bin")
    # a branch with only pickle weights gets them
    code, out, err = run("models", "pull", REPO_ID, "--json")
    assert code == 0, err
    assert json.loads(out)["files"] == ["config.json", "pytorch_model.bin"]


def test_dropped_download_resumes_on_rerun(hub, tiny_repo, run):
    commit = hub.add(REPO_ID, tiny_repo)
    half = len(tiny_repo["model.safetensors"]) // 2
    hub.drop["model.safetensors"] = half
    code, _, err = run("models", "pull", REPO_ID)
    line = one_line_error(code, err)
    assert "check the network" in line and f"lira models pull {REPO_ID}" in line
    blobs = snapshot(hub, commit).parent.parent / "blobs"
    [partial] = blobs.glob("*.incomplete")
    kept = partial.stat().st_size  # the whole chunks that arrived before the line was cut
    assert 0 < kept <= half
    hub.down = False
    code, _, err = run("models", "pull", REPO_ID)
    assert code == 0, err
    assert hub.gets("model.safetensors")[-1] == f"bytes={kept}-"
    whole = snapshot(hub, commit) / "model.safetensors"
    assert sha256(whole) == hashlib.sha256(tiny_repo["model.safetensors"]).hexdigest()
    assert not list(blobs.glob("*.incomplete"))


@pytest.mark.parametrize(("repo", "expected"), [
    ("nobody/nothing", "check the id"),
    ("lira-test/gated", "hf auth login"),
    ("not-an-id", "is not a Hugging Face id"),
])
def test_bad_repos_are_one_line(hub, run, repo, expected):
    hub.add("lira-test/gated", {"config.json": b"{}"})
    hub.gated.add("lira-test/gated")
    code, _, err = run("models", "pull", repo)
    assert expected in one_line_error(code, err)


def test_unknown_revision_and_no_weights(hub, run):
    hub.add(REPO_ID, {"config.json": b"{}", "model.onnx": b"x", "README.md": b"x"})
    code, _, err = run("models", "pull", REPO_ID, "--revision", "nope")
    assert "check --revision" in one_line_error(code, err)
    code, _, err = run("models", "pull", REPO_ID)
    line = one_line_error(code, err)
    assert "no weights" in line and "model.onnx" in line
    assert not [p for p in hub.log if "/resolve/" in p[1]]  # nothing half-fetched


def test_no_network_is_one_line(hub, run, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    code, _, err = run("models", "pull", REPO_ID)
    assert "check the network" in one_line_error(code, err)


def test_full_disk_is_refused_before_downloading(hub, tiny_repo, run, monkeypatch):
    import shutil

    hub.add(REPO_ID, tiny_repo)
    usage = shutil.disk_usage("/")
    monkeypatch.setattr("assistant.runtime.hub.shutil.disk_usage",
                        lambda path: usage._replace(free=10))
    code, _, err = run("models", "pull", REPO_ID)
    assert "free some space" in one_line_error(code, err)
    assert not [p for p in hub.log if "/resolve/" in p[1]]


def test_disk_filling_mid_download_is_one_line(hub, tiny_repo, run, monkeypatch):
    import errno

    hub.add(REPO_ID, tiny_repo)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("huggingface_hub.file_download.http_get", full)
    code, _, err = run("models", "pull", REPO_ID)
    line = one_line_error(code, err)
    assert "disk is full" in line and f"lira models pull {REPO_ID}" in line


def test_cached_lists_and_rm_frees(hub, tiny_repo, run):
    hub.add(REPO_ID, tiny_repo)
    code, out, _ = run("models", "cached")
    assert code == 0 and "lira models pull ID" in out
    assert run("models", "pull", REPO_ID)[0] == 0
    code, out, _ = run("models", "cached", "--json")
    [row] = json.loads(out)
    assert row["id"] == REPO_ID and row["refs"] == ["main"]
    assert row["size"] >= len(tiny_repo["model.safetensors"])
    code, out, _ = run("models", "cached")
    assert REPO_ID in out and "KB" in out
    code, out, _ = run("models")  # the plain listing shows the cache too
    assert code == 0 and "in the Hugging Face cache:" in out
    assert [line for line in out.splitlines() if line.startswith(REPO_ID) and "KB" in line]
    code, out, err = run("models", "rm", REPO_ID)
    assert code == 0 and "freed" in out, err
    assert json.loads(run("models", "cached", "--json")[1]) == []
    code, _, err = run("models", "rm", REPO_ID)
    assert "lira models cached" in one_line_error(code, err)


def test_pulled_model_answers_offline(hub, tiny_repo, run, tiny_embedder_dir):
    hub.add(REPO_ID, tiny_repo)
    base = ("--embedder", tiny_embedder_dir, "--model", REPO_ID)
    code, _, err = run(*base, "ask", "Что такое Москва?", "--no-rag", "--max-new-tokens", "4")
    line = one_line_error(code, err)
    assert f"lira models pull {REPO_ID}" in line
    assert run("models", "pull", REPO_ID)[0] == 0
    hub.log.clear()
    code, out, err = run(*base, "ask", "Что такое Москва?", "--no-rag", "--max-new-tokens", "4")
    assert code == 0, err
    assert hub.log == []  # answered from the cache: the stand-in Hub saw nothing


def test_the_guard_fails_a_test_that_goes_online():
    import socket

    for connect in (lambda: socket.create_connection(("huggingface.co", 443), timeout=1),
                    lambda: socket.socket().connect(("192.0.2.1", 80))):
        with pytest.raises(pytest.fail.Exception, match="Lira must stay offline"):
            connect()


def test_choose_files_for_sharded_and_sentence_transformers_repos():
    from assistant.runtime.hub import choose_files

    names = ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
             "model.safetensors.index.json", "consolidated.safetensors", "pytorch_model.bin",
             "modules.json", "1_Pooling/config.json", "onnx/model.onnx", "original/params.json",
             "tokenizer.model", "vocab.txt", "merges.txt"]
    assert choose_files(names) == [
        "config.json", "merges.txt", "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors", "model.safetensors.index.json", "modules.json",
        "tokenizer.model", "vocab.txt", "1_Pooling/config.json"]


def test_rm_frees_an_interrupted_pull(hub, tiny_repo, run):
    hub.add(REPO_ID, tiny_repo)
    hub.drop["model.safetensors"] = 100_000
    one_line_error(*run("models", "pull", REPO_ID)[::2])
    code, out, err = run("models", "rm", REPO_ID)
    assert code == 0 and "freed" in out, err
    assert not (Path(hub_cache()) / "models--lira-test--tiny-gpt2").exists()


def test_a_gguf_repository_gives_one_quantisation_that_runs_on_llama_cpp(hub, run, tiny_models,
                                                                         tmp_path, tiny_embedder_dir):
    from assistant.runtime.llama_engine import llama_available

    if not llama_available():
        pytest.skip("llama-cpp-python is not installed (make setup builds it)")
    from tests.tiny_gguf import write_llama_gguf

    data = write_llama_gguf(tiny_models["llama"], tmp_path / "tiny.gguf").read_bytes()
    repo = "lira-test/tiny-GGUF"
    hub.add(repo, {"tiny.Q8_0.gguf": data, "tiny.Q4_K_M.gguf": data, "README.md": b"# tiny\n"})
    code, _, err = run("models", "pull", repo, "--quant", "q5_k_m")
    assert "--quant" in one_line_error(code, err) and "tiny.Q8_0.gguf" in err
    code, out, err = run("models", "pull", repo, "--json")
    assert code == 0, err
    assert json.loads(out)["files"] == ["tiny.Q4_K_M.gguf"] and not hub.gets("tiny.Q8_0.gguf")
    hub.log.clear()
    code, out, err = run("--embedder", tiny_embedder_dir, "--model", repo, "ask", "Что такое Москва?",
                         "--no-rag", "--max-new-tokens", "4", "--json")
    assert code == 0, err
    # the snapshot holds no config.json: only llama.cpp can have answered
    assert json.loads(out)["model"]["reference"] == repo
    assert hub.log == []  # offline, from the cache
