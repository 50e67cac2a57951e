"""The e5 embedder on llama.cpp: index.e5_gguf's GGUF against sentence-transformers.

A tiny BERT with an XLM-R-style unigram tokenizer (SentencePiece charsmap,
"▁" word starts, <s> ... </s>) is built here as a sentence-transformers folder,
converted to GGUF in f16 and q8_0, and both engines embed the same texts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.e5_gguf import write_embedder_gguf
from index.errors import EmbedderError
from index.llama_embeddings import llama_embeddings_available

pytestmark = pytest.mark.skipif(not llama_embeddings_available(),
                                reason="llama-cpp-python is not installed")

POSITIONS = 64
WORDS = ["москва", "столица", "россии", "петербург", "основан", "в", "году", "кот", "спит",
         "на", "диване", "ёлка", "query:", "passage:", "1703"]
TEXTS = ["Москва — столица России.", "Петербург основан в 1703 году.", "кот спит на диване",
         "ёлка в москве", "столица  и   петербург"]


def _tokenizer():
    """A unigram tokenizer shaped like e5's: charsmap (ё -> е), Metaspace, <s> $A </s>."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    from index.e5_format import compile_charsmap

    chars = sorted({c for w in WORDS + TEXTS for c in w.lower() if not c.isspace()})
    pieces = ["<s>", "<pad>", "</s>", "<unk>"]
    pieces += ["▁" + w for w in WORDS] + ["▁"] + [c for c in chars if c not in pieces]
    scores = [0.0, 0.0, 0.0, 0.0] + [-2.0 - 0.01 * i for i in range(len(pieces) - 4)]
    tok = Tokenizer(models.Unigram(list(zip(pieces, scores)), unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(compile_charsmap({ord(c): c.lower() for c in "МПКЁ"}
                                                 | {ord("ё"): "е"})),
        normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace("▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return tok


@pytest.fixture(scope="module")
def tiny_e5(tmp_path_factory) -> Path:
    """A randomly initialised mean-pooled BERT sentence-transformers folder with e5 prompts."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-e5")
    hf = PreTrainedTokenizerFast(tokenizer_object=_tokenizer(), bos_token="<s>", eos_token="</s>",
                                 pad_token="<pad>", unk_token="<unk>", cls_token="<s>",
                                 sep_token="</s>", model_max_length=POSITIONS)
    torch.manual_seed(0)
    # more rows than pieces, as e5 pads its table; width 32 so q8_0 blocks fit
    bert = BertModel(BertConfig(vocab_size=len(hf) + 3, hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=64,
                                max_position_embeddings=POSITIONS, pad_token_id=1))
    raw = folder / "bert"
    bert.save_pretrained(raw, safe_serialization=True)
    hf.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=POSITIONS)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, Normalize()],
                                prompts={"query": "query: ", "passage": "passage: "})
    model.save(str(folder / "st"))
    return folder / "st"


@pytest.fixture(scope="module")
def ggufs(tiny_e5, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("tiny-e5-gguf")
    return {q: write_embedder_gguf(tiny_e5, out / f"e5-{q}.gguf", q) for q in ("f16", "q8_0")}


@pytest.fixture(scope="module")
def st_embedder(tiny_e5):
    from index.embeddings import Embedder

    return Embedder(tiny_e5, "tiny-e5")


def _llama(path: Path, name: str = "tiny-e5-gguf"):
    from index.llama_embeddings import LlamaEmbedder

    return LlamaEmbedder(path, name, threads=1)


def test_same_tokens_as_the_transformers_tokenizer(ggufs, st_embedder):
    llama = _llama(ggufs["f16"])
    for text in TEXTS:
        assert llama.llama.tokenize(text.encode(), add_bos=True, special=False) == \
            st_embedder.model.tokenizer(text)["input_ids"], text
    assert llama.count_tokens(TEXTS) == st_embedder.count_tokens(TEXTS)


@pytest.mark.parametrize(("quant", "floor"), [("f16", 0.999), ("q8_0", 0.99)])
def test_vectors_match_sentence_transformers(ggufs, st_embedder, quant, floor):
    llama = _llama(ggufs[quant])
    assert (llama.dim, llama.query_prefix, llama.passage_prefix) == (32, "query: ", "passage: ")
    for embed in ("embed_passages", "embed_queries"):
        ours, theirs = getattr(llama, embed)(TEXTS), getattr(st_embedder, embed)(TEXTS)
        assert ours.dtype == np.float32 and ours.shape == theirs.shape
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        assert min((ours * theirs).sum(axis=1)) >= floor


def test_long_text_is_cut_as_sentence_transformers_cuts_it(ggufs, st_embedder):
    llama = _llama(ggufs["f16"])
    long = " ".join(["кот спит на диване"] * 40)  # 160 tokens, the table holds 64
    assert llama.count_tokens([long])[0] > POSITIONS
    ours, theirs = llama.embed_passages([long]), st_embedder.embed_passages([long])
    assert float(ours[0] @ theirs[0]) >= 0.999
    assert llama.embed_passages([]).shape == (0, 32)


def test_bad_files_are_one_line_errors(ggufs, tmp_path, tiny_embedder_dir):
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(ggufs["f16"].read_bytes()[:4096])
    text = tmp_path / "notes.gguf"
    text.write_text("not a model", encoding="utf-8")
    for path in (truncated, text, tmp_path / "missing.gguf"):
        with pytest.raises(EmbedderError) as err:
            _llama(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    # a WordPiece BERT has no unigram vocabulary for llama.cpp's UGM tokenizer
    with pytest.raises(EmbedderError, match="unigram"):
        write_embedder_gguf(tiny_embedder_dir, tmp_path / "wp.gguf")
    assert not (tmp_path / "wp.gguf").exists()
    with pytest.raises(EmbedderError, match="q4_0"):
        write_embedder_gguf(tiny_embedder_dir, tmp_path / "q4.gguf", "q4_0")
