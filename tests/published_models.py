"""Tiny random models saved the way the seeds' real ones are published: pickle weights
(pytorch_model.bin, sharded like ruGPT-3.5's) and tokenizer files with no tokenizer.json:
sentencepiece (ruT5-large's spiece.model, open_llama's tokenizer.model) or byte-level BPE
(ruGPT-3.5's vocab.json and merges.txt)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from tests.conftest import CORPUS

# (tokenizer file, transformers class, sentencepiece ids of pad, eos, unk, bos) per architecture
LAYOUTS = {
    "t5": ("spiece.model", "T5Tokenizer", dict(pad_id=0, eos_id=1, unk_id=2, bos_id=-1)),
    "llama": ("tokenizer.model", "LlamaTokenizer", dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1)),
}


def sentencepiece_model(ids: dict[str, int]) -> bytes:
    """A unigram sentencepiece model trained on the test corpus (Cyrillic and Latin)."""
    import sentencepiece

    out = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 20), model_writer=out, vocab_size=100, model_type="unigram",
        character_coverage=1.0, minloglevel=2, **ids)
    return out.getvalue()


def build_gpt2_published(folder: Path) -> Path:
    """A tiny random GPT-2 in ``folder`` as ruGPT-3.5-13B is published: vocab.json and
    merges.txt, and its weights in two pickle shards with an index."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    folder.mkdir(parents=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS * 5, vocab_size=400, special_tokens=["<pad>", "<s>", "</s>"])
    bpe.save_model(str(folder))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "GPT2Tokenizer", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}))
    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=512, n_embd=32, n_layer=2,
                                       n_head=2, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                       pad_token_id=tok.pad_token_id))
    model.config.save_pretrained(folder)
    state = model.state_dict()
    names = list(state)
    weight_map = {}
    for n, part in enumerate((names[:len(names) // 2], names[len(names) // 2:]), 1):
        file = f"pytorch_model-{n:05d}-of-00002.bin"
        torch.save({k: state[k] for k in part}, folder / file)
        weight_map |= dict.fromkeys(part, file)
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return folder


def build_published(kind: str, folder: Path) -> Path:
    """A tiny random ``kind`` ("t5", "llama" or "gpt2") model in ``folder``, as published."""
    if kind == "gpt2":
        return build_gpt2_published(folder)
    import torch
    from transformers import (
        AutoTokenizer,
        LlamaConfig,
        LlamaForCausalLM,
        T5Config,
        T5ForConditionalGeneration,
    )

    file, tokenizer_class, ids = LAYOUTS[kind]
    folder.mkdir(parents=True)
    (folder / file).write_bytes(sentencepiece_model(ids))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": tokenizer_class}))
    tok = AutoTokenizer.from_pretrained(folder)
    special = dict(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                   bos_token_id=tok.bos_token_id)
    torch.manual_seed(0)
    if kind == "t5":
        model = T5ForConditionalGeneration(T5Config(
            vocab_size=len(tok), d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2,
            decoder_start_token_id=tok.pad_token_id, **special))
    else:
        model = LlamaForCausalLM(LlamaConfig(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024, **special))
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    assert not list(folder.glob("*.safetensors")) and not (folder / "tokenizer.json").exists()
    return folder
