"""Generators on OpenAI-compatible servers (ollama, llama.cpp, vLLM, LM Studio): "openai:MODEL".

A RemoteGenerator has the parts of Generator the engine and the front ends use:
``loaded`` (a RemoteModel: name, adapter None, context_window, describe),
``count_tokens`` and ``stream``.  Prompts go as one user message to
/v1/chat/completions, so the server wraps them in the model's chat template
(an instruction model answers well only inside it, and every server has that
endpoint); ``stream_messages`` sends a conversation as it is.  The poem
profile uses /v1/completions instead: the poem template is a raw text prompt
that an adapter was trained on, not a chat.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from assistant.errors import GenerationError
from assistant.runtime.presets import Preset
from assistant.runtime.remote_stream import RemoteStream
from index.remote_api import api_failure, estimate_tokens, make_client, not_json, remote_model

DEFAULT_WINDOW = 4096  # when /v1/models does not say (ollama): the smallest common default
# Where servers put the context window in their /v1/models entries
WINDOW_KEYS = ("max_model_len", "context_length", "context_window", "max_context_length")
CHAT, COMPLETIONS = "chat", "completions"


@dataclass
class RemoteModel:
    """What a LoadedModel tells about itself, for a model behind a server."""

    name: str  # "openai:MODEL"
    base_url: str
    context_window: int = DEFAULT_WINDOW
    endpoint: str = CHAT
    adapter: None = None
    tokenizer: None = None
    model: None = None  # no weights here: what needs them (poem fluency) does without
    quantization: str = "server"
    is_seq2seq: bool = False

    @property
    def device(self) -> str:
        return self.base_url

    def describe(self) -> str:
        return f"{self.name} at {self.base_url} ({self.endpoint} endpoint)"


class RemoteGenerator:
    """Streams text from a model on an OpenAI-compatible server."""

    def __init__(self, reference: str, base_url: str, api_key: str | None, setting: str,
                 endpoint: str = CHAT, client: Any = None):
        base_url = base_url.rstrip("/")
        self.model = remote_model(reference)
        self.setting = setting  # names the base URL's setting in error lines
        self.client = client or make_client(base_url, api_key)
        self.loaded = RemoteModel(reference, base_url, endpoint=endpoint)
        self.loaded.context_window = self._window()

    def count_tokens(self, text: str) -> int:
        """An estimate: the server's tokenizer is not here (index.remote_api.estimate_tokens)."""
        return estimate_tokens(text)

    def stream(self, prompt: str, preset: Preset,
               cancel: threading.Event | None = None) -> RemoteStream:
        """The text of ``prompt``'s completion as it streams (see the module's docstring)."""
        if self.loaded.endpoint == COMPLETIONS:
            return self._stream(self._completion_request(prompt, preset), _completion_piece,
                                preset, cancel, estimate_tokens(prompt))
        return self.stream_messages([{"role": "user", "content": prompt}], preset, cancel)

    def stream_messages(self, messages: list[dict[str, str]], preset: Preset,
                        cancel: threading.Event | None = None) -> RemoteStream:
        """The assistant's next message after ``messages`` (role/content dicts), streamed."""
        def request() -> Any:
            return self.client.chat.completions.create(
                model=self.model, messages=messages, stream=True,
                stream_options={"include_usage": True}, **sampling(preset))

        tokens = sum(estimate_tokens(m["content"]) for m in messages)
        return self._stream(request, _chat_piece, preset, cancel, tokens)

    def _completion_request(self, prompt: str, preset: Preset) -> Any:
        def request() -> Any:
            try:
                return self.client.completions.create(
                    model=self.model, prompt=prompt, stream=True,
                    stream_options={"include_usage": True}, **sampling(preset))
            except Exception as exc:
                missing = self._completions_missing(exc)
                if missing is None:
                    raise
                raise missing from exc
        return request

    def _stream(self, request: Any, piece_of: Any, preset: Preset,
                cancel: threading.Event | None, prompt_tokens: int) -> RemoteStream:
        where = (self.loaded.base_url, self.model, self.setting)
        return RemoteStream(request, piece_of, preset, cancel or threading.Event(), where,
                            prompt_tokens)

    def _completions_missing(self, exc: Exception) -> GenerationError | None:
        """The line for a server without /v1/completions (the model itself was found)."""
        import openai

        if not isinstance(exc, (openai.NotFoundError, openai.UnprocessableEntityError)):
            return None
        return GenerationError(
            f"the server at {self.loaded.base_url} has no text completions endpoint "
            f"(/completions answered {exc.status_code}), which poem mode needs for its raw "
            "poem template: run a server that has one (llama.cpp, vLLM, ollama, LM Studio)")

    def _window(self) -> int:
        """The context window from the server's /v1/models entry (the model must be there)."""
        url = self.loaded.base_url
        try:
            entries = [entry.to_dict() for entry in self.client.models.list()]
        except Exception as exc:  # openai's errors, or a body that is not a model list
            line = api_failure(exc, url, self.model, self.setting) or not_json(url, self.setting)
            raise GenerationError(f"model {self.loaded.name}: {line}") from exc
        entry = next((e for e in entries if e.get("id") == self.model), None)
        if entry is None:
            known = ", ".join(sorted(str(e.get("id")) for e in entries)[:10]) or "none"
            raise GenerationError(f"the server at {url} has no model '{self.model}' "
                                  f"(it lists: {known}): check the model name")
        return window_of(entry)


def window_of(entry: dict[str, Any]) -> int:
    """The context window a /v1/models entry states (vLLM, LM Studio, llama.cpp), else the default."""
    meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
    for value in [entry.get(k) for k in WINDOW_KEYS] + [meta.get("n_ctx"), meta.get("n_ctx_train")]:
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_WINDOW


def sampling(preset: Preset) -> dict[str, Any]:
    """A preset's decoding as OpenAI parameters: greedy is temperature 0; top_p only when
    sampling.  top_k, the repetition penalty and beams have no OpenAI parameter (frequency_penalty
    counts differently), so they are left to the server's defaults."""
    params: dict[str, Any] = {"max_tokens": preset.max_new_tokens,
                              "temperature": preset.temperature if preset.do_sample else 0.0}
    if preset.do_sample and preset.top_p < 1.0:
        params["top_p"] = preset.top_p
    if preset.stop:
        params["stop"] = list(preset.stop)[:4]  # the API takes at most four
    return params


def _chat_piece(chunk: Any) -> str | None:
    return chunk.choices[0].delta.content if chunk.choices else None


def _completion_piece(chunk: Any) -> str | None:
    return chunk.choices[0].text if chunk.choices else None
