"""Shared fixtures: tiny random models built on the spot, and isolated LIRA_HOMEs.

Nothing here downloads anything: the tokenizer is trained on a few Russian
sentences and every model is randomly initialised from a small config.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

REPO = Path(__file__).resolve().parent.parent
# The data sets in ../shared/data beside the repository: CI has them, a user's clone does not.
# LIRA_TEST_SHARED_DATA points the tests elsewhere; an empty folder runs them as a user would:
#   LIRA_TEST_SHARED_DATA=/nonexistent make test
SHARED_DATA = Path(os.environ.get("LIRA_TEST_SHARED_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session", autouse=True)
def no_network():
    """Lira never goes online in the tests: a connection to anything but this machine (a
    Unix socket, 127.0.0.0/8, ::1, localhost) fails the test that made it.  pytest.fail
    raises a BaseException, so no library's `except Exception` fallback can hide it."""
    import ipaddress

    def check(host) -> None:
        try:
            local = host == "localhost" or ipaddress.ip_address(host.split("%")[0]).is_loopback
        except (ValueError, AttributeError):
            local = False  # a host name, to be looked up and reached
        if not local:
            pytest.fail(f"a test connected to {host!r}: Lira must stay offline "
                        "(the no_network guard in tests/conftest.py)")

    def guarded(method):
        def connect(sock, address, *args):
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                check(address[0])
            return method(sock, address, *args)
        return connect

    real_create_connection = socket.create_connection

    def create_connection(address, *args, **kwargs):
        check(address[0])  # before the name is looked up
        return real_create_connection(address, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded(socket.socket.connect))
        patch.setattr(socket.socket, "connect_ex", guarded(socket.socket.connect_ex))
        patch.setattr(socket, "create_connection", create_connection)
        yield


def shared_data(relative: str) -> Path:
    """SHARED_DATA / relative, or a skip that names it where it is absent (a user's clone).
    Every test that reads ../shared/data goes through this."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"needs ../shared/data/{relative} (not in a user's clone)")
    return path

CORPUS = [
    "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный.",
    "Москва — столица России. Петербург основан в 1703 году Петром Первым.",
    "Кошка спит на диване, а собака гуляет во дворе.",
    "Вопрос: Ответ: Источники [1] [2] [3] фрагменты документов данные.",
    "The quick brown fox jumps over the lazy dog. Lira answers questions.",
    "Пушкин, Лермонтов, Некрасов и Блок писали стихи о любви и о родине.",
]


def build_tokenizer(folder: Path) -> None:
    """A small byte-level BPE tokenizer with the special tokens models need."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "</s>", "<s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 5, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                   bos_token="<s>", unk_token="<unk>")
    fast.save_pretrained(folder)


def build_tiny_model(kind: str, folder: Path) -> Path:
    """Save a randomly initialised GPT-2-, LLaMA- or T5-shaped model with a tokenizer."""
    import torch
    from transformers import (
        AutoTokenizer,
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        T5Config,
        T5ForConditionalGeneration,
    )

    build_tokenizer(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    vocab = len(tok)
    ids = dict(pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
               bos_token_id=tok.bos_token_id)
    torch.manual_seed(0)
    if kind == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=1024, n_embd=32,
                                           n_layer=2, n_head=2, **ids))
    elif kind == "llama":
        model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32,
                                             intermediate_size=64, num_hidden_layers=2,
                                             num_attention_heads=2, num_key_value_heads=1,
                                             max_position_embeddings=1024, **ids))
    elif kind == "t5":
        model = T5ForConditionalGeneration(T5Config(
            vocab_size=vocab, d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2,
            decoder_start_token_id=tok.pad_token_id, **ids))
    else:
        raise ValueError(kind)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def make_adapter(base_dir, kind, method, out_dir):
    """Save a LoRA / IA3 / prompt-tuning adapter whose weights are not the identity."""
    import torch
    from peft import IA3Config, LoraConfig, PromptTuningConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    seq2seq = kind == "t5"
    model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(base_dir)
    task = TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM
    targets = {"gpt2": ["c_attn"], "llama": ["q_proj", "v_proj"], "t5": ["q", "v"]}[kind]
    ff = {"gpt2": ["c_fc"], "llama": ["down_proj"], "t5": ["wo"]}[kind]
    config = {
        "lora": lambda: LoraConfig(task_type=task, r=4, lora_alpha=8, target_modules=targets,
                                   init_lora_weights=False),
        "ia3": lambda: IA3Config(task_type=task, target_modules=targets + ff,
                                 feedforward_modules=ff),
        "prompt": lambda: PromptTuningConfig(task_type=task, num_virtual_tokens=4),
    }[method]()
    peft_model = get_peft_model(model, config)
    torch.manual_seed(1)
    with torch.no_grad():
        for _name, param in peft_model.named_parameters():
            if param.requires_grad:  # move off the identity so the adapter shows
                param.add_(torch.randn_like(param) * 0.5)
    peft_model.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Folders of tiny random gpt2, llama and t5 models."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {kind: build_tiny_model(kind, root / kind) for kind in ("gpt2", "llama", "t5")}


def build_tiny_embedder(folder: Path) -> Path:
    """A randomly initialised BERT sentence-transformers model with e5 prompts."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Transformer,
    )
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = folder / "vocab.txt"
    folder.mkdir(parents=True, exist_ok=True)
    chars = sorted({c for line in CORPUS for c in line.lower() if not c.isspace()})
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars) + "\n",
                     encoding="utf-8")
    tok = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=64,
                                max_position_embeddings=128))
    raw = folder / "bert"
    bert.save_pretrained(raw, safe_serialization=True)
    tok.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=128)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, Normalize()],
                                prompts={"query": "query: ", "passage": "passage: "})
    out = folder / "st"
    model.save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_gemma(tmp_path_factory):
    """A tiny Gemma 3 with a 4-token sliding window on its first layer, as the bundled one has,
    and two query heads per key/value head."""
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    folder = tmp_path_factory.mktemp("gemma3")
    build_tokenizer(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                              head_dim=16, sliding_window=4, max_position_embeddings=512,
                              layer_types=["sliding_attention", "full_attention"],
                              pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                              bos_token_id=tok.bos_token_id)
    Gemma3ForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def tiny_embedder_dir(tmp_path_factory) -> Path:
    return build_tiny_embedder(tmp_path_factory.mktemp("tiny-embedder"))


@pytest.fixture
def lira_home(tmp_path, monkeypatch) -> Path:
    """An empty LIRA_HOME, with no LIRA_* variables leaking in from outside."""
    for name in list(os.environ):
        if name.startswith("LIRA_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("LIRA_HOME", str(home))
    return home


@pytest.fixture
def docs(tmp_path) -> Path:
    """Two small documents: Moscow (plain text) and Petersburg (Markdown, with its year)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "moscow.txt").write_text("Москва — столица России.", encoding="utf-8")
    (folder / "spb.md").write_text("# Петербург\n\nПетербург основан в 1703 году.",
                                   encoding="utf-8")
    return folder


@pytest.fixture
def tiny_settings(lira_home, tiny_models, tiny_embedder_dir):
    """Settings that point every profile at tiny local models."""
    from assistant.settings import load_settings

    return load_settings({"chat.model": str(tiny_models["gpt2"]),
                          "poem.model": str(tiny_models["llama"]),
                          "embedder": str(tiny_embedder_dir)})


BUNDLED_CACHE = REPO / ".cache" / "test-models"


@pytest.fixture(scope="session")
def bundled_models() -> Path:
    """The bundled models, prepared once into .cache/test-models and kept between runs."""
    from assistant.runtime.models import BUNDLED, prepare_bundled
    from assistant.settings import Settings

    settings = Settings(home=BUNDLED_CACHE.parent, model_cache=BUNDLED_CACHE)
    for bundle in BUNDLED.values():
        if not bundle.available():
            pytest.skip(f"bundled model package {bundle.package} is not installed")
        prepare_bundled(bundle, settings)
    return BUNDLED_CACHE


@pytest.fixture
def bundled_settings(lira_home, bundled_models, monkeypatch):
    """Default settings (bundled models) in an empty LIRA_HOME, sharing the model cache."""
    from assistant.settings import load_settings

    monkeypatch.setenv("LIRA_MODEL_CACHE", str(bundled_models))
    return load_settings()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for training tests: another process may hold both cores,
    and two spin-waiting OpenMP threads on a shared core slow each other down."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def llama128(tmp_path_factory) -> Path:
    """A tiny LLaMA wide enough (128) for bitsandbytes' 4-bit blocks, unlike tiny_models'."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("llama128")
    build_tokenizer(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=128, intermediate_size=256,
                                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                 max_position_embeddings=512, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
                     ).save_pretrained(folder)
    return folder


@pytest.fixture
def run(capsys, lira_home):
    """Run `lira` in-process in an empty LIRA_HOME; returns (exit code, stdout, stderr)."""
    from assistant.cli import main

    def _run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def one_line_error(code, err):
    """The single `lira: error` line of a failed run (and no traceback); fails otherwise."""
    assert code != 0, err
    lines = [line for line in err.splitlines() if line.startswith("lira: error")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def stress_model():
    """Skips where silero-stress (the stress model of rhyme and metre) is not installed."""
    from assistant.poetry import stress

    if not stress.available():
        pytest.skip("silero-stress is not installed")
