"""Fluency: the mean log-probability of a text's tokens under a model, given a prompt."""

from __future__ import annotations

from assistant.runtime import compute, llama_scores
from assistant.runtime.loading import LoadedModel


def mean_logprob(loaded: LoadedModel, prompt: str, text: str) -> float | None:
    """Mean natural-log probability per token of ``text`` after ``prompt``; None if empty.

    One forward pass on the compute thread, like generation itself.
    """
    if getattr(loaded, "llama", None) is not None:  # a GGUF model on llama.cpp
        return compute.run(llama_scores.mean_logprob, loaded, prompt, text)
    if loaded.model is None:  # a model on a server (assistant.runtime.remote): no weights
        return 0.0 if text.strip() else None  # here to score with, so form alone ranks
    ids = loaded.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        return None
    return compute.run(_score, loaded, prompt, ids)


def _score(loaded: LoadedModel, prompt: str, ids: list[int]) -> float:
    import torch

    device = loaded.model.device
    prompt_ids = loaded.tokenizer(prompt, return_tensors="pt")["input_ids"].to(device)
    target = torch.tensor([ids], device=device)
    with torch.inference_mode():
        if loaded.is_seq2seq:
            logits = loaded.model(input_ids=prompt_ids, labels=target).logits
        else:
            # Position i predicts token i + 1: the logits from the prompt's last token on.
            logits = loaded.model(torch.cat([prompt_ids, target], dim=1)).logits
            logits = logits[:, prompt_ids.shape[1] - 1:-1]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        chosen = logprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return float(chosen.mean())
