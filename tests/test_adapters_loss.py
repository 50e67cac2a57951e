"""The masked-logits loss equals the model's own full-logits loss, through every peft method."""

import pytest
import torch

from adapters.examples import Collator, Example, encode_all
from adapters.masked_loss import masked_lm_loss, supports_masked_loss
from adapters.methods import MethodOptions, build_peft_config
from tests.conftest import build_tokenizer

EXAMPLES = [Example("Вопрос: Какая столица России?\nОтвет:", "Москва [1]"),
            Example("Ниже фрагменты.\n[1] <<<\nПетербург основан в 1703 году.\n>>>\n"
                    "Вопрос: Когда основан Петербург?\nОтвет:", "В 1703 году [1]"),
            Example("###Автор:\nПушкин\n\n###Название:\nЗима\n\n###Стихотворение:\n",
                    "Мороз и солнце; день чудесный!\n###Конец")]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def gemma_models(tmp_path_factory):
    """Tiny Gemma 3 (the bundled generator's architecture) and a soft-capped Gemma 2."""
    from transformers import (
        AutoTokenizer,
        Gemma2Config,
        Gemma2ForCausalLM,
        Gemma3ForCausalLM,
        Gemma3TextConfig,
    )

    folders = {}
    for kind in ("gemma3", "gemma2"):
        folder = tmp_path_factory.mktemp(kind)
        build_tokenizer(folder)
        tok = AutoTokenizer.from_pretrained(folder)
        shape = {"vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64,
                 "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
                 "head_dim": 16, "max_position_embeddings": 512, "pad_token_id": tok.pad_token_id,
                 "eos_token_id": tok.eos_token_id, "bos_token_id": tok.bos_token_id}
        torch.manual_seed(0)
        model = (Gemma3ForCausalLM(Gemma3TextConfig(**shape)) if kind == "gemma3" else
                 Gemma2ForCausalLM(Gemma2Config(final_logit_softcapping=3.0, **shape)))
        model.save_pretrained(folder)
        folders[kind] = folder
    return folders


def adapted(folder, method, seq2seq):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(folder)
    config, _ = build_peft_config(method, model, seq2seq, MethodOptions(virtual_tokens=3))
    peft_model = get_peft_model(model, config)
    torch.manual_seed(1)
    with torch.no_grad():  # move the adapter off its identity start, so it matters
        for param in peft_model.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.3)
    return peft_model.eval(), AutoTokenizer.from_pretrained(folder)


def batch_for(tok, seq2seq):
    encoded, _ = encode_all(EXAMPLES, tok, seq2seq, 512)
    return Collator(tok.pad_token_id)(encoded)


@pytest.mark.parametrize("method", ["lora", "ia3", "prompt-tuning"])
@pytest.mark.parametrize("kind", ["gpt2", "llama", "t5", "gemma3", "gemma2"])
def test_masked_loss_equals_full_logits_loss(tiny_models, gemma_models, kind, method):
    folder = gemma_models.get(kind) or tiny_models[kind]
    seq2seq = kind == "t5"
    model, tok = adapted(folder, method, seq2seq)
    batch = batch_for(tok, seq2seq)
    assert supports_masked_loss(model)
    with torch.no_grad():
        plain = model(**batch).loss
        masked = masked_lm_loss(model, batch, seq2seq)
        assert abs(float(plain) - float(masked)) < 1e-5
        # Over a gradient-accumulation window the loss is a sum divided by the window's
        # token count (T5's own loss ignores that count and stays a mean; ours does not).
        labels = batch["labels"] if seq2seq else batch["labels"][:, 1:]
        count = int((labels != -100).sum())
        windowed = masked_lm_loss(model, batch, seq2seq, count * 2)
        assert abs(float(plain) * count / (count * 2) - float(windowed)) < 1e-5
    # The real output layer is back in place afterwards.
    inner = model.get_base_model()
    assert isinstance(inner.get_output_embeddings(), torch.nn.Linear)


def test_masked_loss_gradients_match(tiny_models):
    model, tok = adapted(tiny_models["llama"], "lora", False)
    batch = batch_for(tok, False)
    grads = []
    for loss_fn in (lambda: model(**batch).loss, lambda: masked_lm_loss(model, batch, False)):
        model.zero_grad()
        loss_fn().backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.requires_grad])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-6)
