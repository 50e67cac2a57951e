"""bitsandbytes 8-bit and 4-bit loading on the CPU, with a tiny LLaMA-shaped model."""

import logging

import pytest
import torch

from assistant.runtime.generation import Generator
from assistant.runtime.loading import load_model
from assistant.runtime.presets import PRESETS

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


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
    greedy = PRESETS["answer"].with_overrides(max_new_tokens=4, repetition_penalty=1.0, stop=())
    text = Generator(quant).generate("Москва", greedy).text
    ids = quant.tokenizer("Москва", return_tensors="pt")["input_ids"]
    with torch.no_grad():  # the quantised model is the one that writes
        plain = quant.model.generate(ids, max_new_tokens=4, do_sample=False,
                                     pad_token_id=quant.tokenizer.pad_token_id)
    assert text == quant.tokenizer.decode(plain[0, ids.shape[1]:], skip_special_tokens=True)
    assert quant.describe().endswith(f"(cpu, {quantization})")


def test_on_a_gpu_every_weight_loads_straight_to_it():
    """Without device_map, from_pretrained builds the model in CPU RAM and .to("cuda") copies it:
    a model that fits the GPU but not the RAM would be killed (adapters.model_size checks the GPU)."""
    import torch

    from adapters.base_model import placement

    assert placement("cuda", "none")["device_map"] == {"": "cuda"}
    assert placement("cuda", "none", float32_weights=True)["dtype"] == torch.float32
    assert "device_map" not in placement("cpu", "none")
    assert placement("cuda", "8bit")["device_map"] == {"": "cuda"}
