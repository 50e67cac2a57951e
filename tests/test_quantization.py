"""bitsandbytes 8-bit and 4-bit loading on the CPU, with a tiny LLaMA-shaped model."""

import logging

import pytest
import torch

from assistant.generation import PRESETS, Generator
from assistant.runtime import load_model
from tests.conftest import build_tokenizer

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def llama128(tmp_path_factory):
    """Wide enough (128) for 4-bit blocks, unlike the 32-wide shared fixture."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("llama128")
    build_tokenizer(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=128, intermediate_size=256,
                                 num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                 max_position_embeddings=512, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
                     ).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("quantization,layer", [("8bit", "Linear8bitLt"), ("4bit", "Linear4bit")])
def test_quantized_load_generates_close_to_fp32(llama128, quantization, layer):
    full = load_model(llama128, "llama128", "cpu")
    quant = load_model(llama128, "llama128", "cpu", quantization=quantization)
    assert type(quant.model.model.layers[0].self_attn.q_proj).__name__ == layer
    inputs = full.tokenizer("Москва — столица России.", return_tensors="pt")
    with torch.no_grad():
        a = full.model(**inputs).logits[0, -1]
        b = quant.model(**inputs).logits[0, -1]
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.9
    text = Generator(quant).generate("Москва", PRESETS["answer"].with_overrides(max_new_tokens=4)).text
    assert isinstance(text, str)
    assert quant.describe().endswith(f"(cpu, {quantization})")
