"""A tiny LLaMA GGUF for the llama.cpp engine's tests, written from a tiny transformers model.

The weights are the model's own, in float32, under gguf-py's tensor names, with
the query and key rows reordered as llama.cpp's converter does; the tokenizer is
the model's byte-level BPE (tokens, merges, special ids) as a "gpt2" GGUF
vocabulary.  So the same text gives the same token ids on both sides, and the
same ids the same logits: the tests compare the two engines directly.
"""

from __future__ import annotations

import json
from pathlib import Path

from adapters.gguf_lora import rotary_permute


def write_llama_gguf(model_dir: Path, out: Path) -> Path:
    """Write the tiny LlamaForCausalLM in ``model_dir`` as a float32 GGUF at ``out``."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    layers, heads = config["num_hidden_layers"], config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    rope = (config.get("rope_parameters") or {}).get("rope_theta") or config.get("rope_theta",
                                                                                    10000.0)
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(layers)
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(config["hidden_size"] // heads)
    writer.add_rope_freq_base(float(rope))
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    _add_tokenizer(writer, model_dir)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, layers)
    for name, weight in load_file(str(model_dir / "model.safetensors")).items():
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        weight = weight.astype(np.float32)
        if name.endswith("q_proj.weight"):
            weight = rotary_permute(weight, heads)
        elif name.endswith("k_proj.weight"):
            weight = rotary_permute(weight, kv_heads)
        writer.add_tensor(target, np.ascontiguousarray(weight))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def _add_tokenizer(writer, model_dir: Path) -> None:
    import gguf

    spec = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = dict(spec["model"]["vocab"])
    special = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
    vocab.update(special)
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL
                            for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(special["<s>"])
    writer.add_eos_token_id(special["</s>"])
    writer.add_pad_token_id(special["<pad>"])
    writer.add_unk_token_id(special["<unk>"])
    writer.add_add_bos_token(False)  # the transformers tokenizer adds none either
